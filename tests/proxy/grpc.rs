//! gRPC through berth: an HTTP/2 (h2c, prior knowledge) client, berth's http listener, and a
//! service with `upstream_protocol: h2` in front of an HTTP/2 gRPC server.
//!
//! The gRPC framing is written here (no protoc on this machine): each message is a 5-byte
//! prefix (compressed flag, big-endian length) and its bytes, requests carry `content-type:
//! application/grpc` and `te: trailers`, and the status comes in the `grpc-status` trailer.
//! A unary call, a server-streaming call and a bidirectional call whose messages must cross
//! berth one at a time (nothing buffered) prove bodies stream and trailers pass both ways.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::common::{self, start, yaml};
use crate::wait::wait_until;

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// One gRPC message, framed.
fn frame(msg: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + msg.len());
    b.put_u8(0);
    b.put_u32(msg.len() as u32);
    b.put_slice(msg.as_bytes());
    b.freeze()
}

/// Takes every whole message from the front of `buf`.
fn unframe(buf: &mut BytesMut) -> Vec<String> {
    let mut out = Vec::new();
    while buf.len() >= 5 {
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if buf.len() < 5 + len {
            break;
        }
        buf.advance(5);
        let msg = buf.split_to(len);
        out.push(String::from_utf8_lossy(&msg).into_owned());
    }
    out
}

fn ok_trailers() -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_static("0"));
    t.insert("grpc-message", HeaderValue::from_static("fine"));
    t
}

/// A body fed by a channel of frames.
fn channel_body() -> (mpsc::Sender<Frame<Bytes>>, BoxBody) {
    let (tx, rx) = mpsc::channel::<Frame<Bytes>>(8);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|f| (Ok::<_, Infallible>(f), rx))
    });
    (tx, BodyExt::boxed(StreamBody::new(stream)))
}

/// The gRPC server: `/echo.Echo/Unary` answers `hello <msg>`; `/echo.Echo/Count` answers
/// messages `1..=n`; `/echo.Echo/Chat` echoes each message as soon as it arrives. A request
/// without `te: trailers` or the gRPC content type gets `grpc-status: 3`.
/// `connections` counts accepted connections; `live` those still open.
async fn grpc_server(connections: Arc<AtomicUsize>) -> SocketAddr {
    grpc_server_live(connections, Arc::default()).await
}

async fn grpc_server_live(connections: Arc<AtomicUsize>, live: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::Relaxed);
            live.fetch_add(1, Ordering::Relaxed);
            let live = Arc::clone(&live);
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    Ok::<_, Infallible>(serve(req).await)
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                live.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    addr
}

async fn serve(req: Request<Incoming>) -> Response<BoxBody> {
    let (tx, body) = channel_body();
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    let grpc = req.headers().get("te").is_some_and(|v| v == "trailers")
        && req
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/grpc");
    let path = req.uri().path().to_owned();
    let mut body = req.into_body();
    tokio::spawn(async move {
        if !grpc {
            let mut t = HeaderMap::new();
            t.insert("grpc-status", HeaderValue::from_static("3"));
            let _ = tx.send(Frame::trailers(t)).await;
            return;
        }
        let mut buf = BytesMut::new();
        let mut first = true;
        while let Some(Ok(f)) = body.frame().await {
            let Ok(data) = f.into_data() else { continue };
            buf.extend_from_slice(&data);
            for msg in unframe(&mut buf) {
                match path.as_str() {
                    "/echo.Echo/Unary" if first => {
                        let _ = tx.send(Frame::data(frame(&format!("hello {msg}")))).await;
                    }
                    "/echo.Echo/Count" if first => {
                        let n: u32 = msg.parse().unwrap_or(0);
                        for i in 1..=n {
                            let _ = tx.send(Frame::data(frame(&i.to_string()))).await;
                        }
                    }
                    "/echo.Echo/Chat" => {
                        let _ = tx.send(Frame::data(frame(&format!("echo {msg}")))).await;
                    }
                    _ => {}
                }
                first = false;
            }
        }
        let _ = tx.send(Frame::trailers(ok_trailers())).await;
    });
    response
}

/// An HTTP/2 prior-knowledge connection to `addr`.
async fn h2_client(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<BoxBody> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    sender
}

fn call(berth: SocketAddr, method: &str, body: BoxBody) -> Request<BoxBody> {
    Request::builder()
        .method("POST")
        .uri(format!(
            "http://grpc.test:{}/echo.Echo/{method}",
            berth.port()
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .expect("request")
}

/// Reads a whole response: its messages and its trailers.
async fn messages(response: Response<Incoming>) -> (Vec<String>, HeaderMap) {
    assert_eq!(response.status(), 200);
    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let mut buf = BytesMut::from(&collected.to_bytes()[..]);
    (unframe(&mut buf), trailers)
}

fn berth_for(backend: SocketAddr) -> berth::server::Server {
    start(&yaml(&format!(
        "  grpc: {{ listener: web, hosts: [grpc.test], upstream_protocol: h2, backends: [\"{backend}\"] }}\n"
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_and_server_streaming_calls_pass_with_their_trailers() {
    let connections = Arc::new(AtomicUsize::new(0));
    let backend = grpc_server(Arc::clone(&connections)).await;
    let server = berth_for(backend);
    let web = server.listener("web").expect("web");
    let mut client = h2_client(web).await;

    let unary = BodyExt::boxed(http_body_util::Full::new(frame("berth")));
    let response = client.send_request(call(web, "Unary", unary)).await;
    let (msgs, trailers) = messages(response.expect("unary")).await;
    assert_eq!(msgs, ["hello berth"]);
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "fine");

    let count = BodyExt::boxed(http_body_util::Full::new(frame("5")));
    let response = client.send_request(call(web, "Count", count)).await;
    let (msgs, trailers) = messages(response.expect("streaming")).await;
    assert_eq!(msgs, ["1", "2", "3", "4", "5"]);
    assert_eq!(trailers["grpc-status"], "0");

    // Concurrent calls multiplex on berth's one HTTP/2 connection to the endpoint.
    let calls = (0..20).map(|i| {
        let mut c = client.clone();
        async move {
            let body = BodyExt::boxed(http_body_util::Full::new(frame(&i.to_string())));
            messages(
                c.send_request(call(web, "Unary", body))
                    .await
                    .expect("call"),
            )
            .await
        }
    });
    for (i, (msgs, trailers)) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(msgs, [format!("hello {i}")]);
        assert_eq!(trailers["grpc-status"], "0");
    }
    assert_eq!(
        connections.load(Ordering::Relaxed),
        1,
        "one shared connection"
    );

    let api = format!("http://{}/api/services", server.admin);
    let doc = common::client().get(api).send().await.expect("api");
    let doc: serde_json::Value = doc.json().await.expect("json");
    assert_eq!(doc["services"][0]["upstream_protocol"], "h2");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bidirectional_call_streams_each_message_through() {
    let backend = grpc_server(Arc::default()).await;
    let server = berth_for(backend);
    let web = server.listener("web").expect("web");
    let mut client = h2_client(web).await;
    let (tx, body) = channel_body();
    let response = client.send_request(call(web, "Chat", body)).await;
    let mut body = response.expect("chat").into_body();
    let mut buf = BytesMut::new();
    for word in ["one", "two", "three"] {
        // The answer to each message must arrive before the next is sent.
        tx.send(Frame::data(frame(word))).await.expect("send");
        let got = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let f = body.frame().await.expect("a frame").expect("frame");
                buf.extend_from_slice(&f.into_data().expect("data"));
                if let Some(m) = unframe(&mut buf).pop() {
                    return m;
                }
            }
        })
        .await
        .expect("echo arrives while the call is open");
        assert_eq!(got, format!("echo {word}"));
    }
    drop(tx);
    let rest = body.collect().await.expect("end");
    assert_eq!(rest.trailers().expect("trailers")["grpc-status"], "0");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_the_endpoint_closes_its_shared_connection() {
    let live = Arc::new(AtomicUsize::new(0));
    let backend = grpc_server_live(Arc::default(), Arc::clone(&live)).await;
    let server = berth_for(backend);
    let web = server.listener("web").expect("web");
    let mut client = h2_client(web).await;
    let body = BodyExt::boxed(http_body_util::Full::new(frame("x")));
    let (msgs, _) = messages(
        client
            .send_request(call(web, "Unary", body))
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(msgs, ["hello x"]);
    assert_eq!(live.load(Ordering::Relaxed), 1, "pooled after the call");
    let drain = format!(
        "http://{}/api/services/grpc/endpoints/{backend}/drain",
        server.admin
    );
    let r = common::admin_post(&drain).send().await.expect("drain");
    assert_eq!(r.status(), 200);
    wait_until(
        Duration::from_secs(3),
        "the connection to close",
        || async { live.load(Ordering::Relaxed) == 0 },
    )
    .await;
    server.shutdown();
}
