//! The `Store` service of proto/feira.proto: one method per call, each a thin
//! translation, as the socket door's handlers are (src/server/dispatch/shop.rs and
//! dispatch/wallet.rs).
//!
//! Each method checks its message's fields (`fields`), then hands the socket door's own
//! domain function to [`Caller::run`] under the name of the verb it matches, so that
//! the access rule, the locks, the journal and the STATS counter are the verb's. What
//! comes back is turned into a message here. No rule of the store lives in this file.

use std::net::SocketAddr;
use std::time::SystemTime;

use tonic::{Request, Response, Status};

use super::call::{Caller, account};
use super::fields;
use super::pb;
use super::status::{self, Conflict};
use super::tokens::Tokens;
use crate::accounts::{self, throttle};
use crate::db::schema::{Order, Product};
use crate::protocol::Refusal;
use crate::protocol::listing::{self, DEFAULT_ORDERS_LISTED};
use crate::server::SharedRef;
use crate::server::session::LoggedIn;
use crate::shop::{catalog, orders};
use crate::wallet::{self, transfer};

/// The `Store` service: the server's shared state and the door's tokens.
pub struct StoreService {
    shared: SharedRef,
    tokens: std::sync::Arc<Tokens>,
}

impl StoreService {
    pub fn new(shared: SharedRef, tokens: std::sync::Arc<Tokens>) -> StoreService {
        StoreService { shared, tokens }
    }

    fn caller<T>(&self, request: &Request<T>) -> Caller {
        Caller::of(&self.shared, &self.tokens, request.metadata())
    }
}

/// A field's refusal as the call's status (BAD_REQUEST: `INVALID_ARGUMENT`).
fn invalid(refusal: Refusal) -> Status {
    status::of(refusal, Conflict::Aborted)
}

/// Stock and quantities are at most `MAX_STOCK` (10^12): they always fit an `int64`.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<Product> for pb::Product {
    fn from(product: Product) -> pb::Product {
        pb::Product {
            name: product.name,
            price_cents: product.price.0,
            stock: signed(product.stock),
        }
    }
}

impl From<Order> for pb::Order {
    fn from(order: Order) -> pb::Order {
        pb::Order {
            id: order.id,
            product: order.product,
            quantity: signed(order.quantity),
            unit_price_cents: order.unit_price.0,
            total_cents: order.total.0,
            created_at: order.created_at,
        }
    }
}

#[tonic::async_trait]
impl pb::store_server::Store for StoreService {
    /// LOGIN: the same argon2id check and the same throttle as the socket door
    /// (`accounts::log_in`), counted against the caller's IP address; a token on success.
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginReply>, Status> {
        let peer = request.remote_addr();
        let from = peer.map_or(throttle::client_address(""), |a: SocketAddr| {
            throttle::client_address(&a.to_string())
        });
        let pb::LoginRequest { user, password } = request.get_ref().clone();
        let name = fields::user("user", &user).map_err(invalid)?;
        let logged_in = self
            .caller(&request)
            .run(
                &self.tokens,
                "LOGIN",
                Conflict::Aborted,
                move |shared, _| {
                    let login = accounts::log_in(
                        &shared.db,
                        &shared.hash_gate,
                        &shared.throttle,
                        &name,
                        &password,
                        from,
                    );
                    match &login {
                        Ok(_) => log::info!("{from}: {name} logged in over gRPC"),
                        Err(refusal) => log::warn!("{from}: gRPC login for {name}: {refusal}"),
                    }
                    login.map(|user| LoggedIn {
                        name: user.name,
                        role: user.role,
                        id: user.id,
                    })
                },
            )
            .await?;
        let reply = pb::LoginReply {
            user: logged_in.name.clone(),
            role: logged_in.role.to_string(),
            idle_timeout_secs: signed(self.tokens.idle_timeout().as_secs()),
            token: self
                .tokens
                .issue(logged_in)
                .map_err(|e| status::of(Refusal::internal(e), Conflict::Aborted))?,
        };
        Ok(Response::new(reply))
    }

    /// PRODUCTS [max_price]. Locks: `products`, read.
    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsReply>, Status> {
        let max_price = match request.get_ref().max_price_cents {
            Some(cents) => Some(fields::cents("max_price_cents", cents, 0).map_err(invalid)?),
            None => None,
        };
        let products = self
            .caller(&request)
            .run(&self.tokens, "PRODUCTS", Conflict::Aborted, move |s, _| {
                Ok(catalog::list(&s.db, max_price))
            })
            .await?;
        let products = products.into_iter().map(pb::Product::from).collect();
        Ok(Response::new(pb::ListProductsReply { products }))
    }

    /// PRODUCT <name>. Locks: `products`, read.
    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let name = fields::text("name", &request.get_ref().name).map_err(invalid)?;
        let product = self
            .caller(&request)
            .run(&self.tokens, "PRODUCT", Conflict::Aborted, move |s, _| {
                catalog::get(&s.db, &name)
            })
            .await?;
        Ok(Response::new(product.into()))
    }

    /// RESTOCK <name> <delta> (admin): never below zero. Locks: `products`, written.
    async fn restock(
        &self,
        request: Request<pb::RestockRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let name = fields::text("name", &request.get_ref().name).map_err(invalid)?;
        let delta = fields::delta("delta", request.get_ref().delta).map_err(invalid)?;
        let product = self
            .caller(&request)
            .run(&self.tokens, "RESTOCK", Conflict::Aborted, move |s, _| {
                let (stock, _) = catalog::restock(&s.db, &name, delta)?;
                // Products are never deleted: it is still there, with its price. The
                // stock is the one this restock left, whatever came since.
                Ok(Product {
                    stock,
                    ..catalog::get(&s.db, &name)?
                })
            })
            .await?;
        Ok(Response::new(product.into()))
    }

    /// ADD_PRODUCT <name> <price> <stock> (admin). A name that exists is
    /// `ALREADY_EXISTS`. Locks: `products`, written.
    async fn add_product(
        &self,
        request: Request<pb::AddProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let message = request.get_ref();
        let product = Product {
            name: fields::text("name", &message.name).map_err(invalid)?,
            price: fields::cents("price_cents", message.price_cents, 1).map_err(invalid)?,
            stock: fields::whole("stock", message.stock, 0).map_err(invalid)?,
        };
        let added = product.clone();
        self.caller(&request)
            .run(
                &self.tokens,
                "ADD_PRODUCT",
                Conflict::AlreadyExists,
                move |s, _| catalog::add(&s.db, &added.name, added.price, added.stock).map(|_| ()),
            )
            .await?;
        Ok(Response::new(product.into()))
    }

    /// ORDER <product> <quantity>: the ORDER critical section itself
    /// (`shop::orders::place`: `products`, `wallets`, `orders`, `transfers`, written,
    /// in the lock order, one journal line), paid from the caller's wallet.
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let product = fields::text("product", &request.get_ref().product).map_err(invalid)?;
        let quantity = fields::whole("quantity", request.get_ref().quantity, 1).map_err(invalid)?;
        let order = self
            .caller(&request)
            .run(&self.tokens, "ORDER", Conflict::Aborted, move |s, user| {
                orders::place(&s.db, &account(user)?, &product, quantity)
            })
            .await?;
        Ok(Response::new(order.into()))
    }

    /// ORDERS [n]: newest first, a page at a time. Locks: `orders`, read, in chunks.
    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersReply>, Status> {
        let count = fields::listed("count", request.get_ref().count).map_err(invalid)?;
        let count = listing::count_or(count, DEFAULT_ORDERS_LISTED);
        let page = self
            .caller(&request)
            .run(&self.tokens, "ORDERS", Conflict::Aborted, move |s, user| {
                Ok(orders::latest_of(&s.db, account(user)?.id, count))
            })
            .await?;
        Ok(Response::new(pb::ListOrdersReply {
            total: page.total as u64,
            orders: page.rows.into_iter().map(pb::Order::from).collect(),
        }))
    }

    /// BALANCE. Locks: `wallets`, read.
    async fn balance(
        &self,
        request: Request<pb::BalanceRequest>,
    ) -> Result<Response<pb::BalanceReply>, Status> {
        let (user, balance) = self
            .caller(&request)
            .run(
                &self.tokens,
                "BALANCE",
                Conflict::Aborted,
                move |s, user| {
                    let account = account(user)?;
                    Ok((account.name.clone(), wallet::balance(&s.db, &account)?))
                },
            )
            .await?;
        Ok(Response::new(pb::BalanceReply {
            user,
            balance_cents: balance.0,
        }))
    }

    /// PAYKEY. Locks: `wallets`, read.
    async fn get_pay_key(
        &self,
        request: Request<pb::GetPayKeyRequest>,
    ) -> Result<Response<pb::GetPayKeyReply>, Status> {
        let (key, expires): (_, SystemTime) = self
            .caller(&request)
            .run(&self.tokens, "PAYKEY", Conflict::Aborted, move |s, user| {
                wallet::pay_key(&s.db, &account(user)?)
            })
            .await?;
        Ok(Response::new(pb::GetPayKeyReply {
            pay_key: key.to_string(),
            expires_at: crate::clock::rfc3339(expires),
        }))
    }

    /// TRANSFER <pay_key> <amount>: the payer is always the caller; the key names only
    /// the payee. Locks: `wallets` then `transfers`, written.
    async fn transfer(
        &self,
        request: Request<pb::TransferRequest>,
    ) -> Result<Response<pb::TransferReply>, Status> {
        let key = fields::pay_key(&request.get_ref().pay_key).map_err(invalid)?;
        let amount =
            fields::cents("amount_cents", request.get_ref().amount_cents, 1).map_err(invalid)?;
        let receipt = self
            .caller(&request)
            .run(
                &self.tokens,
                "TRANSFER",
                Conflict::Aborted,
                move |s, user| transfer::send(&s.db, &account(user)?, &key, amount),
            )
            .await?;
        Ok(Response::new(pb::TransferReply {
            id: receipt.id,
            to: receipt.to,
            amount_cents: receipt.amount.0,
            balance_after_cents: receipt.balance_after.0,
        }))
    }
}
