//! `--device` specs: where a device's link is reached (`tcp:HOST:PORT`,
//! `serial:PATH[@BAUD]`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The baud rate of a serial device whose spec names none.
pub const SERIAL_BAUD_DEFAULT: u32 = 115_200;

/// Where a device's link is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// A TCP server, such as QEMU's `-chardev socket,...,server=on`: the node connects
    /// to it as a client (and again after a failure or the end of the stream).
    Tcp {
        /// Host name or address (an IPv6 address without its brackets).
        host: String,
        /// TCP port (not 0).
        port: u16,
    },
    /// A serial port: a UART adapter or a USB CDC-ACM device.
    Serial {
        /// The device file, e.g. `/dev/ttyACM0`.
        path: PathBuf,
        /// Baud rate ([`SERIAL_BAUD_DEFAULT`] unless the spec says).
        baud: u32,
    },
}

/// Why a `--device` spec was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceSpecError {
    /// Neither `tcp:` nor `serial:`.
    #[error("`{0}`: a device is tcp:HOST:PORT or serial:PATH[@BAUD]")]
    Scheme(String),
    /// `tcp:` without `HOST:PORT`.
    #[error("`{0}`: expected tcp:HOST:PORT (e.g. tcp:127.0.0.1:5555)")]
    TcpAddress(String),
    /// The port is not a number from 1 to 65535.
    #[error("`{0}`: the port must be a number from 1 to 65535")]
    Port(String),
    /// `serial:` without a path.
    #[error("`{0}`: expected serial:PATH[@BAUD] (e.g. serial:/dev/ttyACM0@115200)")]
    SerialPath(String),
    /// The baud rate is not a positive number.
    #[error("`{0}`: the baud rate must be a positive number")]
    Baud(String),
}

impl FromStr for DeviceSpec {
    type Err = DeviceSpecError;

    fn from_str(s: &str) -> Result<DeviceSpec, DeviceSpecError> {
        if let Some(rest) = s.strip_prefix("tcp:") {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| DeviceSpecError::TcpAddress(s.into()))?;
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            if host.is_empty() || host.contains(['/', ' ']) {
                return Err(DeviceSpecError::TcpAddress(s.into()));
            }
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| DeviceSpecError::Port(s.into()))?;
            return Ok(DeviceSpec::Tcp {
                host: host.into(),
                port,
            });
        }
        if let Some(rest) = s.strip_prefix("serial:") {
            let (path, baud) = match rest.rsplit_once('@') {
                Some((path, baud)) => {
                    let b = baud
                        .parse::<u32>()
                        .ok()
                        .filter(|b| *b != 0)
                        .ok_or_else(|| DeviceSpecError::Baud(s.into()))?;
                    (path, b)
                }
                None => (rest, SERIAL_BAUD_DEFAULT),
            };
            if path.is_empty() {
                return Err(DeviceSpecError::SerialPath(s.into()));
            }
            return Ok(DeviceSpec::Serial {
                path: path.into(),
                baud,
            });
        }
        Err(DeviceSpecError::Scheme(s.into()))
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp:[{host}]:{port}")
            }
            DeviceSpec::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            DeviceSpec::Serial { path, baud } => write!(f, "serial:{}@{baud}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for (s, printed) in [
            ("tcp:127.0.0.1:5555", "tcp:127.0.0.1:5555"),
            ("tcp:localhost:1", "tcp:localhost:1"),
            ("tcp:[::1]:5555", "tcp:[::1]:5555"),
            ("serial:/dev/ttyACM0", "serial:/dev/ttyACM0@115200"),
            ("serial:/dev/ttyUSB1@921600", "serial:/dev/ttyUSB1@921600"),
        ] {
            let d: DeviceSpec = s.parse().unwrap();
            assert_eq!(d.to_string(), printed);
            assert_eq!(printed.parse::<DeviceSpec>().unwrap(), d);
        }
        assert_eq!(
            "tcp:[::1]:7".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Tcp {
                host: "::1".into(),
                port: 7
            }
        );
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        for (s, e) in [
            (
                "udp:1.2.3.4:5",
                DeviceSpecError::Scheme("udp:1.2.3.4:5".into()),
            ),
            (
                "/dev/ttyACM0",
                DeviceSpecError::Scheme("/dev/ttyACM0".into()),
            ),
            ("tcp:5555", DeviceSpecError::TcpAddress("tcp:5555".into())),
            ("tcp::5555", DeviceSpecError::TcpAddress("tcp::5555".into())),
            ("tcp:h:0", DeviceSpecError::Port("tcp:h:0".into())),
            ("tcp:h:70000", DeviceSpecError::Port("tcp:h:70000".into())),
            ("tcp:h:x", DeviceSpecError::Port("tcp:h:x".into())),
            ("serial:", DeviceSpecError::SerialPath("serial:".into())),
            (
                "serial:@9600",
                DeviceSpecError::SerialPath("serial:@9600".into()),
            ),
            (
                "serial:/dev/x@0",
                DeviceSpecError::Baud("serial:/dev/x@0".into()),
            ),
            (
                "serial:/dev/x@fast",
                DeviceSpecError::Baud("serial:/dev/x@fast".into()),
            ),
        ] {
            assert_eq!(s.parse::<DeviceSpec>(), Err(e), "{s}");
        }
    }
}
