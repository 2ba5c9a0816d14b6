//! gRPC calls whose bodies are bytes the test chooses: a broken protobuf message, or a
//! stream that never sends one. The typed client can send neither.

use std::time::Duration;

use feira::grpc::pb;
use prost::bytes::{Buf, BufMut};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Endpoint;

/// Bytes in, bytes out: no protobuf on this side.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// A runtime for one test's async calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn channel(addr: &str) -> tonic::transport::Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("an address")
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("connect to the gRPC door")
}

/// `body` sent as the whole message of a unary call to `method` of feira.v1.Store.
pub fn unary(addr: &str, method: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    runtime().block_on(async {
        let mut grpc = tonic::client::Grpc::new(channel(addr).await);
        grpc.ready().await.expect("the channel is ready");
        let path = PathAndQuery::try_from(format!("/feira.v1.Store/{method}")).expect("a path");
        grpc.unary(tonic::Request::new(body), path, RawCodec)
            .await
            .map(tonic::Response::into_inner)
    })
}

/// Opens a call to GetProduct and never sends its message; returns how it ended.
pub fn never_send(addr: &str) -> Status {
    runtime().block_on(async {
        let mut grpc = tonic::client::Grpc::new(channel(addr).await);
        grpc.ready().await.expect("the channel is ready");
        let path = PathAndQuery::from_static("/feira.v1.Store/GetProduct");
        let silence = tokio_stream::pending::<Vec<u8>>();
        let outcome: Result<tonic::Response<Vec<u8>>, Status> = grpc
            .client_streaming(tonic::Request::new(silence), path, RawCodec)
            .await;
        outcome.expect_err("a call with no message cannot succeed")
    })
}

/// A GetProduct message, encoded by prost, to compare with hand-made bodies.
pub fn get_product_body(name: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&pb::GetProductRequest { name: name.into() })
}
