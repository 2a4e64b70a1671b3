//! Replication over libp2p: how the core's messages are routed (heads published on
//! gossipsub, a request's blocks returned as its response, anything else sent as a
//! `/glitter/sync/1` request), how received gossip is validated and handed to the core,
//! and how requests and responses are handled, with each want's outcome reported back to
//! the core and the window of wants to a peer refilled after each answer.

use super::swarm::is_heads;
use super::{OUTBOX_MAX, REQUESTS_IN_FLIGHT_MAX, REQUESTS_PER_PEER_MAX, Runtime, check_heads};
use crate::codec::RESPONSE_MESSAGES_MAX;
use crate::error::NodeError;
use glitter_core::sync::{PeerId as CorePeer, WantEnd};
use glitter_host::outbox::VecOutbox;
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::request_response::{self, ResponseChannel};

/// A message held back until the blocks stored before it are durable (group commit):
/// nothing that tells a peer what this node holds (heads, or blocks served) leaves
/// before the commit that covers it. Wants are not held: they acknowledge nothing, and
/// sending them at once keeps the link busy while the commit syncs.
pub(super) enum Held {
    /// Heads for gossipsub.
    Publish(Vec<u8>),
    /// The answer to a peer's request.
    Response(ResponseChannel<Vec<Vec<u8>>>, Vec<Vec<u8>>),
    /// A message for the device attached with this core id (sent over its link).
    Device(CorePeer, Vec<u8>),
}

/// Most swarm events handled in one batch before its blocks are committed: a burst of
/// answers is stored with one journal sync instead of one per answer.
pub(super) const EVENTS_PER_COMMIT_MAX: usize = 64;

impl Runtime {
    /// Mirrors the core's score of `id` into gossipsub's application score.
    pub(super) fn mirror_score(&mut self, id: CorePeer) {
        if let (Some(pid), Some(score)) = (self.libp2p_id(id), self.node.peer_score(id)) {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .set_application_score(&pid, f64::from(score));
        }
    }

    /// Sends what the core emitted. Messages for an attached device go over its link;
    /// messages for `reply_to` (except heads) are returned as the response to its
    /// request.
    pub(super) fn route(&mut self, out: VecOutbox, reply_to: Option<CorePeer>) -> Vec<Vec<u8>> {
        let mut response = Vec::new();
        for (to, bytes) in out.messages {
            if let Some(i) = self.devices.of(to) {
                self.route_to_device(i, to, bytes);
            } else if is_heads(&bytes) {
                self.publish(bytes);
            } else if Some(to) == reply_to {
                if response.len() < RESPONSE_MESSAGES_MAX {
                    response.push(bytes);
                }
            } else {
                self.send_request(to, bytes);
            }
        }
        response
    }

    /// True while messages must wait for a commit: blocks are staged, or earlier
    /// messages wait (order is kept).
    pub(super) fn holding(&self) -> bool {
        !self.held.is_empty() || self.node.store_ref().has_staged()
    }

    /// Commits what the events so far stored, then sends what waited for it.
    ///
    /// # Errors
    /// [`NodeError::Commit`] if the blocks cannot be made durable (or an earlier
    /// commit, for a control request, failed): the node must stop.
    pub(super) fn settle(&mut self) -> Result<(), NodeError> {
        if let Some(source) = self.fatal.take() {
            return Err(self.commit_error(source));
        }
        if let Err(source) = self.commit() {
            return Err(self.commit_error(source));
        }
        self.tell_stored();
        // Bounded by what the batch emitted; nothing is staged now, so nothing is held
        // again.
        for held in std::mem::take(&mut self.held) {
            match held {
                Held::Publish(bytes) => self.publish(bytes),
                Held::Response(channel, response) => {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response);
                }
                Held::Device(to, bytes) => self.release_to_device(to, &bytes),
            }
        }
        Ok(())
    }

    /// Commits the staged blocks (one journal sync).
    pub(super) fn commit(&mut self) -> std::io::Result<()> {
        self.node.store().commit()
    }

    fn commit_error(&self, source: std::io::Error) -> NodeError {
        NodeError::Commit {
            path: self.node.store_ref().log_ref().flash().path().to_path_buf(),
            source,
        }
    }

    pub(super) fn publish(&mut self, bytes: Vec<u8>) {
        if self.holding() {
            self.held.push(Held::Publish(bytes));
            return;
        }
        let topic = self.topic.clone();
        if self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, bytes)
            .is_ok()
        {
            self.stats.heads_published += 1;
        }
    }

    pub(super) fn send_request(&mut self, to: CorePeer, bytes: Vec<u8>) {
        let Some(pid) = self.libp2p_id(to) else {
            return;
        };
        let to_peer = self.requests.values().filter(|(p, ..)| *p == to).count();
        if self.in_flight >= REQUESTS_IN_FLIGHT_MAX || to_peer >= REQUESTS_PER_PEER_MAX {
            self.stats.requests_dropped += 1;
            // Not sent: the want is not in flight (no verdict on the peer).
            let now = self.now_ms();
            self.node
                .want_ended(now, to, &bytes, WantEnd::Failed, false);
            return;
        }
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&pid, bytes.clone());
        self.requests.insert(id, (to, bytes, !self.relayed));
        self.in_flight += 1;
        self.stats.requests_sent += 1;
    }

    pub(super) fn on_gossip(
        &mut self,
        via: PeerId,
        id: &gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        let now = self.now_ms();
        let verdict = check_heads(&message.data);
        // Heads published by a peer the core banned are not forwarded. Straight from it
        // they are rejected, so it sinks in gossipsub too; a relay that forwarded them is
        // not blamed (ignored). A peer merely below zero is not rejected (its score
        // already reaches gossipsub as the application score): rejecting it would
        // graylist it before it is ever asked for blocks, so it could never be caught
        // forging them.
        let publisher = message.source.and_then(|p| self.core_id(p));
        let distrusted = publisher.is_some_and(|p| self.node.is_banned(p, now));
        let acceptance = if verdict.is_err() || (distrusted && message.source == Some(via)) {
            MessageAcceptance::Reject
        } else if distrusted {
            MessageAcceptance::Ignore
        } else {
            MessageAcceptance::Accept
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, &via, acceptance);
        let mut out = VecOutbox::new(OUTBOX_MAX);
        match verdict {
            Err(_) => {
                self.stats.gossip_rejected += 1;
                // Malformed bytes cost the forwarding peer core score too (the core
                // penalises whatever it cannot parse).
                if let Some(from) = self.core_id(via)
                    && glitter_core::sync::Message::parse(&message.data).is_err()
                {
                    let _ = self.node.handle(now, from, &message.data, &mut out);
                    self.mirror_score(from);
                }
            }
            Ok(()) => {
                self.stats.gossip_accepted += 1;
                // Heads name what their publisher holds: ask the publisher if it is
                // connected, else the peer that forwarded them. Publishers that are
                // not connected get no core id, so they cannot fill the peer table.
                let from = publisher.or_else(|| self.core_id(via));
                if let Some(from) = from {
                    let _ = self.node.handle(now, from, &message.data, &mut out);
                    self.last_heads.insert(from, message.data);
                }
            }
        }
        self.relayed = publisher.is_none();
        self.route(out, None);
        self.relayed = false;
    }

    pub(super) fn on_sync(&mut self, ev: request_response::Event<Vec<u8>, Vec<Vec<u8>>>) {
        let now = self.now_ms();
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let Some(from) = self.core_id(peer) else {
                        // Its connection closed meanwhile: the answer has nowhere to go.
                        return;
                    };
                    let mut out = VecOutbox::new(OUTBOX_MAX);
                    let _ = self.node.handle(now, from, &request, &mut out);
                    self.mirror_score(from);
                    let mut response = self.route(out, Some(from));
                    if let Some(adversary) = self.adversary.as_mut()
                        && adversary.withhold(&request)
                    {
                        // TEST ONLY (`--fake-heads`): the want is never answered.
                        adversary.hold(channel);
                        return;
                    }
                    if let Some(adversary) = &self.adversary {
                        response = adversary.response(
                            &mut self.node,
                            &self.keys,
                            from,
                            &request,
                            response,
                        );
                    }
                    self.stats.requests_served += 1;
                    if self.holding() {
                        self.held.push(Held::Response(channel, response));
                        return;
                    }
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.stats.responses_received += 1;
                    let request = self.requests.remove(&request_id);
                    let Some(from) = self.core_id(peer) else {
                        return;
                    };
                    let mut out = VecOutbox::new(OUTBOX_MAX);
                    for msg in &response {
                        let _ = self.node.handle(now, from, msg, &mut out);
                    }
                    // An answer without the announced blocks costs their announcer.
                    if let Some((to, bytes, claimed)) = request
                        && to == from
                    {
                        self.node
                            .want_ended(now, from, &bytes, WantEnd::Answered, claimed);
                    }
                    self.mirror_score(from);
                    if !response.is_empty()
                        && let Some(h) = self.last_heads.get(&from).cloned()
                    {
                        // Pipelining: refill the window of wants to this peer right
                        // away (answers that arrived out of order are parked, so this
                        // is not only after blocks were stored).
                        let _ = self.node.handle(now, from, &h, &mut out);
                    }
                    self.route(out, None);
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.stats.requests_failed += 1;
                // No answer within the timeout: a peer that announced the blocks did not
                // back them. A closed connection or a failed stream says nothing about
                // the peer's honesty (churn, load): the want ends without a verdict.
                let timed_out = matches!(error, request_response::OutboundFailure::Timeout);
                if let Some((to, bytes, claimed)) = self.requests.remove(&request_id)
                    && self.core_id(peer) == Some(to)
                {
                    self.node
                        .want_ended(now, to, &bytes, WantEnd::Failed, claimed && timed_out);
                    self.mirror_score(to);
                }
            }
            _ => {}
        }
        let _ = self.node.take_stored();
    }
}
