//! Network namespaces and TUN devices, made with `ip` and removed again on drop (and
//! by `glitter-lab clean` after a lab that was killed).
//!
//! Node `i` of a lab lives in namespace `glab-<pid>-<i>` with one interface, a TUN
//! device holding `10.77.0.<i+1>/24`; the lab process keeps the device's file
//! descriptor, so every packet the node sends to another lab address comes to the
//! lab's switch, and the switch writes it into the destination's device.

use crate::error::LabError;
use std::net::Ipv4Addr;
use std::process::Command;

/// Prefix of every lab namespace.
pub const NS_PREFIX: &str = "glab-";
/// Most nodes in one lab (addresses 10.77.0.1 to 10.77.0.250).
pub const NODES_MAX: usize = 250;

/// The lab address of node `i`.
pub fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, (i + 1) as u8)
}

/// The node index of a lab address.
pub fn node_index(ip: [u8; 4]) -> Option<usize> {
    match ip {
        [10, 77, 0, n] if n >= 1 => Some(usize::from(n) - 1),
        _ => None,
    }
}

/// Runs `ip` with `args`.
///
/// # Errors
/// [`LabError::Command`] with its stderr when it fails.
pub fn ip(args: &[&str]) -> Result<String, LabError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| LabError::Command {
            command: format!("ip {}", args.join(" ")),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: format!("ip {}", args.join(" ")),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Fails unless the lab runs as root.
///
/// # Errors
/// [`LabError::NotRoot`].
pub fn require_root() -> Result<(), LabError> {
    let uid = nix::unistd::Uid::effective();
    if uid.is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot(uid.as_raw()))
    }
}

/// Labs made by this process so far (several can run one after another, or at once in
/// tests).
static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The namespaces (and with them the TUN devices moved into them) of one lab; deleted
/// on drop.
#[derive(Debug)]
pub struct Namespaces {
    lab: u32,
    names: Vec<String>,
}

impl Namespaces {
    /// An empty set for a new lab (nothing made yet).
    pub fn new() -> Namespaces {
        Namespaces {
            lab: LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            names: Vec::new(),
        }
    }

    /// The name of node `i`'s TUN device (unique across this host's labs, at most 15
    /// bytes).
    pub fn tun_name(&self, i: usize) -> String {
        format!("gl{}l{}n{i}", std::process::id() % 100_000, self.lab % 100)
    }

    /// Makes the namespace of node `i` of this lab, with `lo` up.
    ///
    /// # Errors
    /// `ip netns add` failed.
    pub fn add(&mut self, i: usize) -> Result<String, LabError> {
        let name = format!("{NS_PREFIX}{}-{}-{i}", std::process::id(), self.lab);
        ip(&["netns", "add", &name])?;
        self.names.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// The namespace names, in node order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces::new()
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Moves TUN device `dev` into namespace `ns` and gives it node `i`'s address.
///
/// # Errors
/// An `ip` command failed.
pub fn attach(dev: &str, ns: &str, i: usize) -> Result<(), LabError> {
    ip(&["link", "set", dev, "netns", ns])?;
    let addr = format!("{}/24", node_ip(i));
    ip(&["-n", ns, "addr", "add", &addr, "dev", dev])?;
    ip(&["-n", ns, "link", "set", dev, "mtu", "1500", "up"])?;
    Ok(())
}

/// Deletes the namespaces of labs whose process is gone (a lab killed with SIGKILL
/// cannot clean up after itself). Returns the names deleted.
///
/// # Errors
/// `ip netns list` failed.
pub fn clean_stale() -> Result<Vec<String>, LabError> {
    let listed = ip(&["netns", "list"])?;
    let mut gone = Vec::new();
    for line in listed.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        let alive = !pid.is_empty() && std::path::Path::new("/proc").join(pid).exists();
        if alive {
            continue;
        }
        // Its nodes outlive it: stop them before the namespace goes.
        for pid in ip(&["netns", "pids", name]).unwrap_or_default().lines() {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if ip(&["netns", "del", name]).is_ok() {
            gone.push(name.to_string());
        }
    }
    Ok(gone)
}
