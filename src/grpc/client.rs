//! A blocking client of the gRPC door, for `feira-cli --grpc` and the tests.
//!
//! Why blocking: the rest of the client side (`crate::client`, the CLI) is blocking,
//! and a one-shot command makes a call or two. The generated client is async, so this
//! one owns a single-threaded runtime and waits on each call (`block_on`); no thread
//! is started.
//!
//! After [`GrpcClient::login`], every call carries the token as
//! `authorization: Bearer <token>`.

use std::time::Duration;

use tokio::runtime::Runtime;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::call::AUTHORIZATION;
use super::pb;
use super::pb::store_client::StoreClient;

/// A connection to a gRPC door.
pub struct GrpcClient {
    runtime: Runtime,
    store: StoreClient<Channel>,
    token: Option<String>,
}

impl GrpcClient {
    /// Connects to `addr` (`host:port`). `timeout` bounds the connection and each call.
    pub fn connect(addr: &str, timeout: Duration) -> Result<GrpcClient, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("{addr:?} is not an address: {e}"))?
            .connect_timeout(timeout)
            .timeout(timeout);
        let channel = runtime
            .block_on(endpoint.connect())
            .map_err(|e| format!("cannot reach the gRPC door at {addr}: {e}"))?;
        Ok(GrpcClient {
            runtime,
            store: StoreClient::new(channel),
            token: None,
        })
    }

    /// Uses this token from now on (one from another client's `Login`, or none).
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// The token in use, if logged in.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `message` as a request, with the token if there is one.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let value = self
            .token
            .as_ref()
            .and_then(|token| MetadataValue::try_from(format!("Bearer {token}")).ok());
        if let Some(value) = value {
            request.metadata_mut().insert(AUTHORIZATION, value);
        }
        request
    }

    /// Logs in, and keeps the token for the calls that follow.
    pub fn login(&mut self, user: &str, password: &str) -> Result<pb::LoginReply, Status> {
        let message = pb::LoginRequest {
            user: user.into(),
            password: password.into(),
        };
        let reply = self
            .runtime
            .block_on(self.store.login(self.request(message)))
            .map(Response::into_inner)?;
        self.token = Some(reply.token.clone());
        Ok(reply)
    }

    pub fn list_products(
        &mut self,
        max_price_cents: Option<i64>,
    ) -> Result<Vec<pb::Product>, Status> {
        let message = pb::ListProductsRequest { max_price_cents };
        self.runtime
            .block_on(self.store.list_products(self.request(message)))
            .map(Response::into_inner)
            .map(|reply| reply.products)
    }

    pub fn get_product(&mut self, name: &str) -> Result<pb::Product, Status> {
        let message = pb::GetProductRequest { name: name.into() };
        self.runtime
            .block_on(self.store.get_product(self.request(message)))
            .map(Response::into_inner)
    }

    pub fn restock(&mut self, name: &str, delta: i64) -> Result<pb::Product, Status> {
        let message = pb::RestockRequest {
            name: name.into(),
            delta,
        };
        self.runtime
            .block_on(self.store.restock(self.request(message)))
            .map(Response::into_inner)
    }

    pub fn add_product(
        &mut self,
        name: &str,
        price_cents: i64,
        stock: i64,
    ) -> Result<pb::Product, Status> {
        let message = pb::AddProductRequest {
            name: name.into(),
            price_cents,
            stock,
        };
        self.runtime
            .block_on(self.store.add_product(self.request(message)))
            .map(Response::into_inner)
    }

    pub fn place_order(&mut self, product: &str, quantity: i64) -> Result<pb::Order, Status> {
        let message = pb::PlaceOrderRequest {
            product: product.into(),
            quantity,
        };
        self.runtime
            .block_on(self.store.place_order(self.request(message)))
            .map(Response::into_inner)
    }

    pub fn list_orders(&mut self, count: i64) -> Result<pb::ListOrdersReply, Status> {
        self.runtime
            .block_on(
                self.store
                    .list_orders(self.request(pb::ListOrdersRequest { count })),
            )
            .map(Response::into_inner)
    }

    pub fn balance(&mut self) -> Result<pb::BalanceReply, Status> {
        self.runtime
            .block_on(self.store.balance(self.request(pb::BalanceRequest {})))
            .map(Response::into_inner)
    }

    pub fn get_pay_key(&mut self) -> Result<pb::GetPayKeyReply, Status> {
        self.runtime
            .block_on(
                self.store
                    .get_pay_key(self.request(pb::GetPayKeyRequest {})),
            )
            .map(Response::into_inner)
    }

    pub fn transfer(
        &mut self,
        pay_key: &str,
        amount_cents: i64,
    ) -> Result<pb::TransferReply, Status> {
        let message = pb::TransferRequest {
            pay_key: pay_key.into(),
            amount_cents,
        };
        self.runtime
            .block_on(self.store.transfer(self.request(message)))
            .map(Response::into_inner)
    }
}
