//! The node's libp2p side: its identity, its behaviour (gossipsub with peer scoring,
//! the two request-response protocols, identify, ping, optional mDNS) and the gossip
//! validator.

use super::ip_limits::IpLimits;
use crate::codec::SyncCodec;
use crate::error::SwarmError;
use crate::transport::{
    GatedBackup, identify_behaviour, ping_behaviour, sync_behaviour, tcp_swarm,
};
use glitter_core::hash::Hash;
use glitter_core::sig::KeyPair;
use glitter_core::sync::Message;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{Swarm, connection_limits, identify, mdns, ping};
use std::time::Duration;

/// The domain tag of the libp2p key derivation (see [`libp2p_keypair`]).
pub const LIBP2P_KEY_DOMAIN: &[u8] = b"glitter/libp2p-identity/v1";

/// Most connections established at once, inbound and outbound together.
pub const CONNECTIONS_MAX: u32 = 256;
/// Most inbound connections still in their handshake.
pub const PENDING_INBOUND_MAX: u32 = 32;
/// Most connections to one peer. A second one is refused as it is established, before
/// any other behaviour sees it (so gossipsub never loses the subscription it sends
/// once per peer on a connection that is then closed). Two nodes that dial each other
/// at the same moment may each refuse a different one; the redial (jittered) then
/// connects them.
pub const CONNECTIONS_PER_PEER_MAX: u32 = 1;

/// Largest gossipsub frame (one RPC: a message, or one control message such as an
/// IHAVE list). A frame over it is a read error that closes the gossip stream, and after
/// five such closes gossipsub disables itself on that connection for good.
pub const GOSSIP_FRAME_MAX: usize = 4 * 1024;
/// Most message ids in one IHAVE or IWANT. With [`GOSSIP_ID_LEN`]-byte ids such a list
/// is about 1.5 KiB, well inside [`GOSSIP_FRAME_MAX`]. gossipsub's default (5,000 ids
/// of ~70 bytes) overflowed the frame as soon as a burst of more than ~56 messages was
/// in the gossip window, which cut replication between two honest nodes for good.
pub const IHAVE_IDS_MAX: usize = 64;
/// Length of a gossip message id: a digest of the publisher and its sequence number.
pub const GOSSIP_ID_LEN: usize = 20;
/// The domain tag of gossip message ids.
const GOSSIP_ID_DOMAIN: &[u8] = b"glitter/gossip-id/v1";

/// Everything a node speaks.
#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    /// First, so a connection it refuses reaches no other behaviour (nor counts in
    /// `limits`): inbound connections per IP address.
    pub(super) ip_limits: IpLimits,
    /// Second, for the same reason: in total, in their handshake, per peer.
    limits: connection_limits::Behaviour,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) sync: request_response::Behaviour<SyncCodec>,
    pub(super) backup: GatedBackup,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The libp2p identity of a glitter identity: an Ed25519 key whose secret is
/// SHA-256(`LIBP2P_KEY_DOMAIN` ‖ seed). It is derived from the identity seed, so a
/// data directory always has the same peer id, but it is a different key from the
/// chain-signing key, so libp2p never signs anything with the key that signs blocks.
///
/// # Errors
/// [`SwarmError::Identity`] if libp2p refuses the derived secret (it accepts every
/// 32-byte string).
pub fn libp2p_keypair(keys: &KeyPair) -> Result<Keypair, SwarmError> {
    let mut secret = Hash::of_parts(&[LIBP2P_KEY_DOMAIN, &keys.seed()]).0;
    Keypair::ed25519_from_bytes(&mut secret).map_err(SwarmError::Identity)
}

/// The node's swarm: its behaviour over TCP + noise + yamux, subscribed to `topic`,
/// taking at most `conns_per_ip` inbound connections from one IP address.
pub(super) fn build_swarm(
    key: Keypair,
    topic: &IdentTopic,
    with_mdns: bool,
    conns_per_ip: u32,
) -> Result<Swarm<Behaviour>, SwarmError> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_initial_delay(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(700))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(GOSSIP_FRAME_MAX)
        .message_id_fn(gossip_id)
        .max_ihave_length(IHAVE_IDS_MAX)
        .build()
        .map_err(SwarmError::GossipConfig)?;
    let mut gossip = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config,
    )
    .map_err(SwarmError::Gossip)?;
    let (params, thresholds) = score_params(topic);
    gossip
        .with_peer_score(params, thresholds)
        .map_err(SwarmError::Scoring)?;
    gossip.subscribe(topic).map_err(SwarmError::Subscribe)?;
    let mdns = if with_mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                .map_err(SwarmError::Mdns)?,
        )
    } else {
        None
    };
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(CONNECTIONS_MAX))
        .with_max_pending_incoming(Some(PENDING_INBOUND_MAX))
        .with_max_established_per_peer(Some(CONNECTIONS_PER_PEER_MAX));
    let behaviour = Behaviour {
        ip_limits: IpLimits::new(conns_per_ip),
        limits: connection_limits::Behaviour::new(limits),
        gossipsub: gossip,
        sync: sync_behaviour(ProtocolSupport::Full),
        backup: GatedBackup::new(),
        identify: identify_behaviour(&key),
        ping: ping_behaviour(),
        mdns: Toggle::from(mdns),
    };
    tcp_swarm(key, behaviour, Duration::from_secs(3600))
}

/// A gossip message's id: the first [`GOSSIP_ID_LEN`] bytes of SHA-256 over the domain
/// tag, the publisher's peer id and its sequence number. Heads are republished every
/// tick unchanged, so the id names the publication, not the content (as gossipsub's
/// default does, in about 70 bytes).
fn gossip_id(m: &gossipsub::Message) -> gossipsub::MessageId {
    let source = m.source.map(|p| p.to_bytes()).unwrap_or_default();
    let seq = m.sequence_number.unwrap_or(0).to_be_bytes();
    let digest = Hash::of_parts(&[GOSSIP_ID_DOMAIN, &source, &seq]);
    gossipsub::MessageId::new(digest.0.get(..GOSSIP_ID_LEN).unwrap_or(&digest.0))
}

/// Gossipsub scoring for a topic of small, periodic head announcements.
fn score_params(
    topic: &IdentTopic,
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let t = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 10.0,
        // Announcements are few and periodic: a minimum delivery rate would punish
        // quiet honest peers, so P3 and P3b are off.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: every rejected message counts, squared; slow decay so a peer that keeps
        // sending garbage stays below the graylist threshold.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..gossipsub::TopicScoreParams::default()
    };
    let mut p = gossipsub::PeerScoreParams {
        // The core's peer score (0 down to the ban score) counts one for one.
        app_specific_weight: 1.0,
        ..gossipsub::PeerScoreParams::default()
    };
    p.topics.insert(topic.hash(), t);
    // Several nodes on one machine share 127.0.0.1; that is not a Sybil signal.
    p.ip_colocation_factor_whitelist
        .insert(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    (p, gossipsub::PeerScoreThresholds::default())
}

/// True for a well-formed `Heads` message (published, not sent as a request).
pub(super) fn is_heads(bytes: &[u8]) -> bool {
    matches!(Message::parse(bytes), Ok(Message::Heads { .. }))
}

/// The gossip validator of [`HEADS_TOPIC`](super::HEADS_TOPIC): a well-formed
/// `Heads` message whose authors are admissible keys
/// ([`PublicKey::validate`](glitter_core::sig::PublicKey::validate)) and whose seq and
/// id agree (seq 0 exactly when the id is zero). Anything else is rejected, and a
/// rejected announcement is never forwarded.
///
/// # Errors
/// A short reason: not a `Heads` message, malformed bytes, an unusable author key, or
/// a seq and id that disagree.
pub fn check_heads(bytes: &[u8]) -> Result<(), &'static str> {
    match Message::parse(bytes) {
        Ok(Message::Heads { heads, .. }) => {
            for e in &heads {
                if e.author.validate().is_err() {
                    return Err("a head names an unusable author key");
                }
                if (e.seq == 0) != e.id.is_zero() {
                    return Err("a head's seq and id disagree");
                }
            }
            Ok(())
        }
        Ok(_) => Err("not a Heads message"),
        Err(_) => Err("malformed message"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glitter_core::sync::HeadEntry;
    use glitter_core::sync::message::{HEADS_MAX, MESSAGE_LEN_MAX};

    #[test]
    fn libp2p_key_is_derived_and_distinct() {
        let keys = KeyPair::from_seed([7; 32]).unwrap();
        let a = libp2p_keypair(&keys).unwrap();
        let b = libp2p_keypair(&keys).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        let ed = a.clone().try_into_ed25519().unwrap();
        assert_ne!(ed.public().to_bytes(), keys.public().0);
    }

    #[test]
    fn gossip_ids_are_short_and_name_the_publication() {
        let a = Keypair::generate_ed25519().public().to_peer_id();
        let b = Keypair::generate_ed25519().public().to_peer_id();
        let topic = IdentTopic::new("t").hash();
        let msg = |source, seq, data: &[u8]| gossipsub::Message {
            source: Some(source),
            data: data.to_vec(),
            sequence_number: Some(seq),
            topic: topic.clone(),
        };
        let id = gossip_id(&msg(a, 1, b"x"));
        assert_eq!(id.0.len(), GOSSIP_ID_LEN);
        // The same publication is the same message whatever it carries; another
        // sequence number or publisher is another message.
        assert_eq!(id, gossip_id(&msg(a, 1, b"y")));
        assert_ne!(id, gossip_id(&msg(a, 2, b"x")));
        assert_ne!(id, gossip_id(&msg(b, 1, b"x")));
    }

    #[test]
    fn the_longest_ihave_fits_a_gossip_frame() {
        // Protobuf: RPC.control (tag, length) > ControlMessage.ihave (tag, length) >
        // topic_id (tag, length, bytes) and each message id (tag, length, bytes);
        // lengths under 16,384 take at most two bytes.
        let topic = IdentTopic::new(crate::runtime::HEADS_TOPIC).hash();
        let ids = IHAVE_IDS_MAX * (1 + 1 + GOSSIP_ID_LEN);
        let frame = 2 * (1 + 2) + (1 + 2 + topic.as_str().len()) + ids;
        assert!(
            frame <= GOSSIP_FRAME_MAX / 2,
            "an IHAVE of {IHAVE_IDS_MAX} ids takes {frame} bytes"
        );
        // gossipsub's default ids (base58 peer id and decimal seq, ~71 bytes) overflow
        // the frame at this many ids: the failure the bound prevents.
        let default_id = 52 + u64::MAX.to_string().len();
        assert!(IHAVE_IDS_MAX * (2 + default_id) > GOSSIP_FRAME_MAX);
    }

    #[test]
    fn the_validator_accepts_heads_only() {
        let keys = KeyPair::from_seed([7; 32]).unwrap();
        let mut heads = heapless::Vec::<HeadEntry, HEADS_MAX>::new();
        heads
            .push(HeadEntry {
                author: keys.public(),
                seq: 0,
                id: Hash::ZERO,
                forked: false,
            })
            .unwrap();
        let mut buf = [0u8; MESSAGE_LEN_MAX];
        let good = Message::Heads {
            reply: false,
            heads: heads.clone(),
        }
        .emit(&mut buf)
        .unwrap()
        .to_vec();
        assert!(check_heads(&good).is_ok());
        heads[0].seq = 1; // seq without id
        let bad = Message::Heads {
            reply: false,
            heads,
        }
        .emit(&mut buf)
        .unwrap()
        .to_vec();
        assert!(check_heads(&bad).is_err());
        assert!(check_heads(&[0xEE; 7]).is_err());
        let want = Message::Want {
            author: keys.public(),
            from_seq: 1,
            count: 1,
        }
        .emit(&mut buf)
        .unwrap()
        .to_vec();
        assert!(check_heads(&want).is_err());
    }
}
