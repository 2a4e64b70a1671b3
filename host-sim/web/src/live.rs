//! Live updates: `/events`, server-sent events of the blocks the node stores.
//!
//! Each stored block is one `block` event whose data is a
//! [`StoredBlock`](glitter_net::views::StoredBlock) as JSON (author, seq, kind, stored
//! time); the page fetches what it shows itself. A subscriber that falls more than
//! [`glitter_net::runtime::BLOCK_EVENTS_QUEUE`] events behind gets one `lagged` event
//! (the page reloads). At most [`crate::LIVE_STREAMS_MAX`] streams are open at once.

use crate::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;

pub(crate) async fn events(State(app): State<Shared>) -> Response {
    let Ok(permit) = app.live.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "503: too many live-update streams are open; close a tab\n",
        )
            .into_response();
    };
    let stream = BroadcastStream::new(app.node.subscribe()).map(move |ev| {
        // The permit lives as long as the stream.
        let _held = &permit;
        Ok::<Event, std::convert::Infallible>(match ev {
            Ok(block) => Event::default()
                .event("block")
                .data(serde_json::to_string(&block).unwrap_or_default()),
            Err(_) => Event::default().event("lagged").data("{}"),
        })
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
