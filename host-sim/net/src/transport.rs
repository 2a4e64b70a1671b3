//! The libp2p pieces a node and a restoring device share: TCP + noise + yamux, identify,
//! and the two glitter request-response protocols.

use super::backup_proto::{BACKUP_PROTOCOL, BackupCodec};
use super::codec::{SYNC_PROTOCOL, SyncCodec};
use crate::error::SwarmError;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{Multiaddr, PeerId, Swarm, identify, noise, tcp, yamux};
use std::collections::HashSet;
use std::time::Duration;

/// How long a sync request (a `Want` and its blocks) may take.
pub const SYNC_TIMEOUT_S: u64 = 10;
/// How long a backup request (a package or a release) may take.
pub const BACKUP_TIMEOUT_S: u64 = 60;

/// A swarm over TCP + noise + yamux on tokio, closing connections idle for `idle`.
///
/// # Errors
/// [`SwarmError::Tcp`] if the transport cannot be built.
pub fn tcp_swarm<B: NetworkBehaviour>(
    key: Keypair,
    behaviour: B,
    idle: Duration,
) -> Result<Swarm<B>, SwarmError> {
    let Ok(with_behaviour) = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(SwarmError::Tcp)?
        .with_behaviour(|_| behaviour);
    Ok(with_behaviour
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build())
}

/// Identify, announcing glitter's protocol version.
pub fn identify_behaviour(key: &Keypair) -> identify::Behaviour {
    identify::Behaviour::new(identify::Config::new(
        "/glitter/1".to_string(),
        key.public(),
    ))
}

/// `/glitter/sync/1` (blocks), served (`Full`) or only asked (`Outbound`).
pub fn sync_behaviour(support: ProtocolSupport) -> request_response::Behaviour<SyncCodec> {
    request_response::Behaviour::with_codec(
        SyncCodec,
        [(SYNC_PROTOCOL, support)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(SYNC_TIMEOUT_S)),
    )
}

/// `/glitter/backup/1`, served (`Full`) or only asked (`Outbound`).
pub fn backup_behaviour(support: ProtocolSupport) -> request_response::Behaviour<BackupCodec> {
    request_response::Behaviour::with_codec(
        BackupCodec,
        [(BACKUP_PROTOCOL, support)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(BACKUP_TIMEOUT_S)),
    )
}

/// The address without its `/p2p/` part (to match a dial target with the address a
/// connection reports).
pub fn strip_p2p(a: &Multiaddr) -> Multiaddr {
    a.iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect()
}

/// Addresses to keep dialling, each with the peer id learned when a dial succeeded.
#[derive(Clone, Debug, Default)]
pub struct DialTargets(pub Vec<(Multiaddr, Option<PeerId>)>);

impl DialTargets {
    /// Targets for `addrs`, none connected yet.
    pub fn new<'a>(addrs: impl IntoIterator<Item = &'a Multiaddr>) -> DialTargets {
        DialTargets(addrs.into_iter().map(|a| (a.clone(), None)).collect())
    }

    /// Dials every target that is not connected now.
    pub fn redial<B: NetworkBehaviour>(&self, swarm: &mut Swarm<B>, connected: &HashSet<PeerId>) {
        for (a, p) in &self.0 {
            if p.is_none_or(|p| !connected.contains(&p)) {
                let _ = swarm.dial(a.clone());
            }
        }
    }

    /// Records that dialling `endpoint` reached `peer`.
    pub fn connected(&mut self, endpoint: &libp2p::core::ConnectedPoint, peer: PeerId) {
        if let libp2p::core::ConnectedPoint::Dialer { address, .. } = endpoint {
            for (a, p) in &mut self.0 {
                if strip_p2p(a) == strip_p2p(address) {
                    *p = Some(peer);
                }
            }
        }
    }
}
