//! The listener of a sim pod, with the "down" switch.
//!
//! axum's own `serve` cannot drop established connections, and a client's connection pool
//! would keep talking to a pod that is supposed to be down. So we run the accept loop
//! ourselves (hyper http1 per connection): going down closes the listening socket (new
//! connections are refused) and cancels every open connection; coming up binds the same
//! address again. The state is untouched either way. "Hang" needs no help from here: the fault
//! layer holds requests.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Uri};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::pod::Pod;

/// Strip a trailing slash (`/identity/` → `/identity`): clients probe both forms, and the
/// routes are registered without one.
fn normalize(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    if path.len() <= 1 || !path.ends_with('/') {
        return None;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let pq = match uri.query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_string(),
    };
    pq.parse().ok()
}

async fn serve_conn(stream: TcpStream, router: Router, cancel: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        async move {
            let mut req = req.map(Body::new);
            if let Some(uri) = normalize(req.uri()) {
                *req.uri_mut() = uri;
            }
            router.oneshot(req).await
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        _ = cancel.cancelled() => {}
    }
}

async fn bind_again(addr: SocketAddr, shutdown: &CancellationToken) -> Option<TcpListener> {
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(e) => {
                tracing::warn!(%addr, error = %e, "sim-pod cannot bind again; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

/// Serve `router` on `listener` until `shutdown`, honouring the pod's down switch.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    pod: Option<Pod>,
    shutdown: CancellationToken,
) {
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let mut down_rx = pod.as_ref().map(|p| p.net.down.subscribe());
    let mut listener = Some(listener);
    loop {
        let Some(l) = listener.take() else { return };
        let conns = shutdown.child_token();
        loop {
            let went_down = async {
                match down_rx.as_mut() {
                    Some(rx) => {
                        let _ = rx.wait_for(|d| *d).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = went_down => break,
                acc = l.accept() => {
                    if let Ok((stream, _)) = acc {
                        tokio::spawn(serve_conn(stream, router.clone(), conns.clone()));
                    }
                }
            }
        }
        drop(l);
        conns.cancel();
        tracing::info!(%addr, "sim-pod is down");
        if let Some(rx) = down_rx.as_mut() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = rx.wait_for(|d| !*d) => {}
            }
        }
        listener = bind_again(addr, &shutdown).await;
        tracing::info!(%addr, "sim-pod is up again");
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn trailing_slashes_are_stripped() {
        assert_eq!(normalize(&"/identity/".parse().unwrap()).unwrap(), "/identity");
        assert_eq!(normalize(&"/a/b/?x=1".parse().unwrap()).unwrap(), "/a/b?x=1");
        assert!(normalize(&"/".parse().unwrap()).is_none());
        assert!(normalize(&"/a".parse().unwrap()).is_none());
    }
}
