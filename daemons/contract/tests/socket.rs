//! Binding the contract socket: permissions, stale sockets, live sockets, merged routes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use axum::routing::get;
use common::{Harness, raw, request};
use routerd_contract::server::{ServeError, ServerInfo, bind_unix, contract_router, serve};

#[tokio::test]
async fn socket_and_directory_modes() {
    let h = Harness::start().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&h.socket), 0o660);
    assert_eq!(mode(h.socket.parent().unwrap()), 0o750);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_server_refuses_to_steal_a_live_socket() {
    let h = Harness::start().await;
    let info = ServerInfo {
        daemon: "intruder".into(),
        instance: "x".into(),
    };
    let router = contract_router(info, Arc::clone(&h.daemon), Arc::clone(&h.log));
    let err = serve(&h.socket, router, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::InUse(_)), "{err}");
    assert!(err.to_string().contains("already listening"), "{err}");
    // The first server is untouched.
    assert_eq!(
        h.client.status().await.unwrap().daemon,
        "routerd-healthcheck"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_stale_socket_is_replaced_but_other_files_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(
        socket.exists(),
        "a dead server's socket file is left behind"
    );
    drop(bind_unix(&socket).unwrap());

    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, b"precious").unwrap();
    let err = bind_unix(&file).unwrap_err();
    assert!(matches!(err, ServeError::NotASocket(_)), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
}

#[tokio::test]
async fn merged_routes_get_the_contract_layers() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("routerd.sock");
    let info = ServerInfo {
        daemon: "routerd".into(),
        instance: "main".into(),
    };
    let extra = axum::Router::new().route(
        "/v1/config",
        get(|| async { axum::Json(serde_json::json!({"generation": 7})) }),
    );
    let router = contract_router(info, Arc::clone(&h.daemon), Arc::clone(&h.log)).merge(extra);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let socket = socket.clone();
        async move {
            serve(&socket, router, async {
                let _ = rx.await;
            })
            .await
        }
    });
    common::wait_until("the socket to appear", || socket.exists()).await;

    let r = raw(&socket, &request("GET", "/v1/config", "", b"")).await;
    assert_eq!((r.status, r.json()["generation"].as_u64()), (200, Some(7)));
    let r = raw(&socket, &request("POST", "/v1/config", "", b"")).await;
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].is_string());
    let r = raw(&socket, &request("GET", "/v1/nope", "", b"")).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());

    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    h.stop().await.unwrap();
}
