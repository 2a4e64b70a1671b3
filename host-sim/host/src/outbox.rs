//! The one outbox for host code: what a core [`Node`](glitter_core::sync::Node)
//! sends in one step, encoded and bounded, for the caller to route (the simulator's
//! link model, or the node's libp2p swarm).

use glitter_core::sync::{Message, Outbox, OutboxFull, PeerId};

/// Encoded messages to peers, at most `max` of them.
#[derive(Clone, Debug, Default)]
pub struct VecOutbox {
    /// (destination, encoded message), in send order.
    pub messages: Vec<(PeerId, Vec<u8>)>,
    /// The bound: a send past it is refused with [`OutboxFull`].
    pub max: usize,
}

impl VecOutbox {
    /// An empty outbox for at most `max` messages.
    pub fn new(max: usize) -> VecOutbox {
        VecOutbox {
            messages: Vec::new(),
            max,
        }
    }
}

impl Outbox for VecOutbox {
    fn send(&mut self, to: PeerId, msg: &Message<'_>) -> Result<(), OutboxFull> {
        if self.messages.len() >= self.max {
            return Err(OutboxFull);
        }
        let mut buf = vec![0u8; msg.encoded_len()];
        msg.emit(&mut buf).map_err(|_| OutboxFull)?;
        self.messages.push((to, buf));
        Ok(())
    }
}
