//! Sans-IO replication.
//!
//! A [`Node`] is driven by [`Node::handle`] (a message arrived) and [`Node::tick`] (time
//! passed); it never does I/O, reads a clock or draws randomness itself. Messages it
//! wants sent go to a caller-provided [`Outbox`]. The same `Node` runs in the
//! simulator, on a microcontroller and behind a real transport.
//!
//! The protocol: each tick a node sends its heads (for its own chain and the authors
//! it follows) to one peer chosen at random (push); in push-pull mode the peer answers
//! with its heads where it is ahead (pull). Whoever is behind asks for the missing
//! blocks with `Want` and gets them as `Block`s, and verifies each with the chain
//! validator before storing it. Wants in flight are remembered, so a block is fetched
//! about once per node however many peers announce it.
//!
//! The store layer's [`FlashLog`](crate::store::FlashLog) is a [`SyncStore`] (the impl
//! is here, in this layer), so a node can replicate straight into flash.

mod flash_store;
pub mod link;
pub mod message;
pub mod node;

pub use message::{HeadEntry, Message};
pub use node::{
    Config, FORK_PUSH_FANOUT, GossipMode, HandleError, INTRODUCE_PER_TICK, Node, NodeStats, Outbox,
    OutboxFull, PUSH_FANOUT_MAX, PeerId, QUIET_TICKS, REFUSED_MAX, REFUSED_RETRY_MS,
    ROTATION_WITH_PUSH, StoreFull, Stored, SyncStore, WANT_HEDGE_MS, WANT_PEERS_MAX, WantEnd,
};
