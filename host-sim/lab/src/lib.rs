//! glitter's network lab: real `glitter node` processes, each in its own Linux network
//! namespace, joined by a userspace link emulator (this kernel has no netem qdisc).
//!
//! - [`link`]: the per-packet link model (delay, jitter, loss, duplication,
//!   reordering, bandwidth), pure and seeded;
//! - [`switch`]: TUN devices and the threads that carry packets between them through
//!   the links, with partitions;
//! - [`netns`]: namespaces and addresses, removed on drop or by `glitter-lab clean`;
//! - [`probe`]: the emulator's self-test (UDP through two namespaces);
//! - [`scenario`]: a scenario file's nodes and steps, run against real nodes, and
//!   its JSON report.
//!
//! The lab needs root (namespaces, TUN). The CLI runs it: `glitter lab run FILE`,
//! `glitter lab probe`, `glitter lab clean`. See docs/LAB.md.

pub mod clock;
pub mod error;
pub mod link;
pub mod measure;
pub mod netns;
pub mod nodes;
pub mod probe;
pub mod run;
pub mod scenario;
pub mod switch;

pub use error::LabError;
