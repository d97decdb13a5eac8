//! The listener: one HTTP/1.1 connection task per client, each with a deadline for every
//! request's head (a client that connects and then sends nothing, or its head a byte at a
//! time, is cut off after [`HttpSettings::read_timeout`]), a cap on the head's size (431
//! past [`MAX_HEAD`]), WebSocket upgrades, the peer's address for [`super::ClientIp`], and
//! a graceful stop that lets requests in flight finish. TLS and HTTP/2 belong to the proxy
//! in front.

use super::{router, AppState};
use axum::extract::ConnectInfo;
use hyper::{body::Incoming, server::conn::http1, Request};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use std::{future::Future, pin::pin, time::Duration};
use tokio::{net::TcpListener, sync::watch};
use tower::ServiceExt;

/// The most a request's head (request line and headers) may take, in bytes.
pub const MAX_HEAD: usize = 32 * 1024;

/// Serves `state`'s router on `listener` until `shutdown` resolves, then stops accepting,
/// lets each connection finish the request it is in, and returns once all have closed.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let read_timeout = state.http.read_timeout;
    let app = router(state);
    let (stop, stopping) = watch::channel(false);
    let (open, all_closed) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait for some to close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let mut stopping = stopping.clone();
        let open = open.subscribe();
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(read_timeout)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut conn = pin!(conn);
            let mut told = false;
            loop {
                tokio::select! {
                    done = conn.as_mut() => {
                        if let Err(e) = done {
                            tracing::trace!(error = %e, %peer, "connection ended");
                        }
                        break;
                    }
                    _ = stopping.wait_for(|s| *s), if !told => {
                        told = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(all_closed);
    open.closed().await;
    Ok(())
}
