//! A message over the size limit is `RESOURCE_EXHAUSTED`, as gRPC's status code list
//! says ("request or response larger than the configured maximum") and as grpc-go,
//! grpc-java and Python's grpcio answer it.
//!
//! Why this file: tonic refuses such a message before decoding it (good: nothing of it
//! is kept), but with `OUT_OF_RANGE`. A client written against the gRPC spec retries
//! or reports by status code, so the door says it the standard way: this wrapper
//! around a service turns an `OUT_OF_RANGE` answer into `RESOURCE_EXHAUSTED`, message
//! kept. It is safe because the door itself never answers `OUT_OF_RANGE` (the table in
//! src/grpc/status.rs has no row for it): every one is tonic's size limit.

use std::convert::Infallible;
use std::task::{Context, Poll};

use tonic::Code;
use tonic::body::Body;
use tonic::codegen::http::{HeaderValue, Request, Response};
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;

/// `service`, with a message over the limit answered `RESOURCE_EXHAUSTED`.
#[derive(Debug, Clone)]
pub struct TooLarge<S>(pub S);

impl<S: NamedService> NamedService for TooLarge<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for TooLarge<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Response<Body>, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let answer = self.0.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            // A refusal before any message is a "trailers-only" answer: its status is
            // in the headers.
            let status = response.headers().get("grpc-status");
            if status.is_some_and(|s| s == (Code::OutOfRange as i32).to_string().as_str()) {
                let exhausted = HeaderValue::from(Code::ResourceExhausted as i32);
                response.headers_mut().insert("grpc-status", exhausted);
            }
            Ok(response)
        })
    }
}
