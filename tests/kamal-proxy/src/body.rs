//! Response bodies: the one type every answer uses, and the proxied body that keeps its request
//! in flight until the last byte is delivered.
//!
//! A request counts as in flight (for draining) until its response body ends, not when the
//! headers arrive: a slow download from the old target must finish before a deploy returns. When
//! a drain gives up waiting, the body ends with an error and hyper drops the connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::target::Inflight;

/// Errors that end a response body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the proxy sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// A complete body from bytes (error pages, health answers).
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An upstream response body that holds its request's [`Inflight`] guard.
pub struct TrackedBody {
    inner: Incoming,
    inflight: Option<Inflight>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl TrackedBody {
    /// Wraps `inner` as a [`ProxyBody`]; the request stays in flight until the body ends or is
    /// dropped.
    pub fn boxed(inner: Incoming, inflight: Inflight) -> ProxyBody {
        let cancelled = Box::pin(inflight.cancellation().cancelled_owned());
        TrackedBody {
            inner,
            inflight: Some(inflight),
            cancelled,
        }
        .boxed_unsync()
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.inflight.is_none() {
            return Poll::Ready(None);
        }
        if this.cancelled.as_mut().poll(cx).is_ready() {
            this.inflight = None;
            return Poll::Ready(Some(Err("target is draining".into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Err(error))) => {
                this.inflight = None;
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(None) => {
                this.inflight = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inflight.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
