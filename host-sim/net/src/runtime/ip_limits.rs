//! Inbound connections per remote IP address.
//!
//! libp2p's `connection-limits` counts connections in total and per peer id, but a
//! peer id costs nothing: one host with fresh keys could take every slot (256
//! established, 32 in their handshake) and lock everyone else out. [`IpLimits`]
//! counts the inbound connections from each address, from the moment one is accepted
//! (still in its handshake) until it closes, and refuses one beyond the limit before
//! any other behaviour sees it. IPv6 addresses count by their /64 prefix, the block
//! one host usually holds; an IPv4-mapped IPv6 address counts as its IPv4 address.
//! Outbound connections (the node dialled) are not counted.
//!
//! The tables are bounded by the other connection limits: an entry exists only for a
//! connection that is still pending (another behaviour that refuses it removes it at
//! once, through `ListenFailure`) or established, so at most
//! `PENDING_INBOUND_MAX + CONNECTIONS_MAX` entries; an address whose count reaches 0
//! is removed.

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::{ConnectionClosed, ListenFailure};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr};
use std::task::{Context, Poll};

/// The default of `glitter node --max-conns-per-ip`: inbound connections (in their
/// handshake or established) from one IP address (an IPv6 /64).
pub const CONNECTIONS_PER_IP_DEFAULT: u32 = 16;

/// Why a connection was refused: its address already has `max` inbound connections.
#[derive(Debug, thiserror::Error)]
#[error("{ip} already has {max} inbound connections (the per-IP limit)")]
pub struct PerIpExceeded {
    /// The address (an IPv6 address with its last 64 bits zeroed).
    pub ip: IpAddr,
    /// The limit.
    pub max: u32,
}

/// What the per-IP limit (`IpLimits`, the swarm's first behaviour) holds and has refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IpLimitStats {
    /// The limit per address.
    pub max: u32,
    /// Addresses with at least one inbound connection.
    pub ips: usize,
    /// The most inbound connections one address has.
    pub busiest: u32,
    /// Inbound connections refused by the limit since the node started.
    pub denied: u64,
}

/// The address `addr` counts under: its IP (an IPv6 one by its /64), if it has one.
pub fn counted_ip(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(match ip.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(ip) & !u128::from(u64::MAX))),
        }),
        _ => None,
    }
}

/// A behaviour that refuses an inbound connection from an address that already has
/// `max` of them (see the module docs). It has no protocol of its own.
#[derive(Debug)]
pub struct IpLimits {
    max: u32,
    per_ip: HashMap<IpAddr, u32>,
    counted: HashMap<ConnectionId, IpAddr>,
    denied: u64,
}

impl IpLimits {
    /// At most `max` inbound connections per address (0 counts as 1).
    pub fn new(max: u32) -> IpLimits {
        IpLimits {
            max: max.max(1),
            per_ip: HashMap::new(),
            counted: HashMap::new(),
            denied: 0,
        }
    }

    /// What it holds and has refused.
    pub fn stats(&self) -> IpLimitStats {
        IpLimitStats {
            max: self.max,
            ips: self.per_ip.len(),
            busiest: self.per_ip.values().copied().max().unwrap_or(0),
            denied: self.denied,
        }
    }

    /// Stops counting connection `id` (closed or refused), if it was counted.
    fn release(&mut self, id: ConnectionId) {
        let Some(ip) = self.counted.remove(&id) else {
            return;
        };
        if let Entry::Occupied(mut e) = self.per_ip.entry(ip) {
            *e.get_mut() = e.get().saturating_sub(1);
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

impl NetworkBehaviour for IpLimits {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = counted_ip(remote) else {
            return Ok(());
        };
        let n = self.per_ip.entry(ip).or_insert(0);
        if *n >= self.max {
            self.denied += 1;
            return Err(ConnectionDenied::new(PerIpExceeded { ip, max: self.max }));
        }
        *n += 1;
        self.counted.insert(id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Counted (and checked) while it was pending.
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::core::ConnectedPoint;
    use libp2p::swarm::ListenError;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    fn pending(l: &mut IpLimits, id: usize, remote: &str) -> bool {
        l.handle_pending_inbound_connection(
            ConnectionId::new_unchecked(id),
            &addr("/ip4/127.0.0.1/tcp/4001"),
            &addr(remote),
        )
        .is_ok()
    }

    fn failed(l: &mut IpLimits, id: usize) {
        let a = addr("/ip4/127.0.0.1/tcp/4001");
        l.on_swarm_event(FromSwarm::ListenFailure(ListenFailure {
            local_addr: &a,
            send_back_addr: &a,
            error: &ListenError::Aborted,
            connection_id: ConnectionId::new_unchecked(id),
            peer_id: None,
        }));
    }

    fn closed(l: &mut IpLimits, id: usize) {
        let a = addr("/ip4/127.0.0.1/tcp/4001");
        let endpoint = ConnectedPoint::Listener {
            local_addr: a.clone(),
            send_back_addr: a,
        };
        l.on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
            peer_id: PeerId::random(),
            connection_id: ConnectionId::new_unchecked(id),
            endpoint: &endpoint,
            cause: None,
            remaining_established: 0,
        }));
    }

    #[test]
    fn an_address_gets_at_most_max_and_other_addresses_are_not_affected() {
        let mut l = IpLimits::new(3);
        for id in 0..3 {
            assert!(pending(&mut l, id, "/ip4/10.0.0.1/tcp/5000"));
        }
        assert!(!pending(&mut l, 3, "/ip4/10.0.0.1/tcp/5001"));
        assert!(!pending(&mut l, 4, "/ip4/10.0.0.1/tcp/5002"));
        assert!(pending(&mut l, 5, "/ip4/10.0.0.2/tcp/5000"));
        assert_eq!(
            l.stats(),
            IpLimitStats {
                max: 3,
                ips: 2,
                busiest: 3,
                denied: 2
            }
        );
        // A refused connection's own ListenFailure frees nothing.
        failed(&mut l, 3);
        assert!(!pending(&mut l, 6, "/ip4/10.0.0.1/tcp/5003"));
        // A closed one and a failed handshake free their slots.
        closed(&mut l, 0);
        failed(&mut l, 1);
        assert!(pending(&mut l, 7, "/ip4/10.0.0.1/tcp/5004"));
        assert!(pending(&mut l, 8, "/ip4/10.0.0.1/tcp/5005"));
        assert!(!pending(&mut l, 9, "/ip4/10.0.0.1/tcp/5006"));
    }

    #[test]
    fn the_table_forgets_an_address_without_connections() {
        let mut l = IpLimits::new(2);
        for id in 0..100 {
            assert!(pending(&mut l, id, &format!("/ip4/10.0.1.{id}/tcp/1")));
        }
        assert_eq!(l.stats().ips, 100);
        for id in 0..100 {
            closed(&mut l, id);
        }
        assert_eq!(l.stats().ips, 0);
        assert!(l.per_ip.is_empty() && l.counted.is_empty());
        // Closing again (or an unknown id) changes nothing.
        closed(&mut l, 5);
        assert_eq!(l.stats().busiest, 0);
    }

    #[test]
    fn ipv6_counts_by_its_64_prefix_and_mapped_ipv4_as_ipv4() {
        let mut l = IpLimits::new(2);
        assert!(pending(&mut l, 0, "/ip6/2001:db8::1/tcp/1"));
        assert!(pending(&mut l, 1, "/ip6/2001:db8::ffff:2/tcp/1"));
        assert!(!pending(&mut l, 2, "/ip6/2001:db8:0:0:1:2:3:4/tcp/1"));
        assert!(pending(&mut l, 3, "/ip6/2001:db8:0:1::1/tcp/1"));
        assert_eq!(
            counted_ip(&addr("/ip6/::ffff:10.0.0.9/tcp/1")),
            Some("10.0.0.9".parse().unwrap())
        );
        assert_eq!(counted_ip(&addr("/dns4/example.org/tcp/1")), None);
        // An address without an IP is not limited.
        for id in 10..20 {
            assert!(pending(&mut l, id, "/memory/1234"));
        }
    }
}
