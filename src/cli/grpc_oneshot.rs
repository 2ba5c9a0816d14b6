//! `feira-cli --grpc ADDR --user alice products 5.00`: one command over the gRPC door,
//! printed exactly as the socket door's would be, so the same command can be run
//! through both doors and the outputs compared.
//!
//! Why the command is parsed here, unlike the socket one-shot (which sends the words
//! as they are and lets the server judge): a gRPC call is a typed message, so the words
//! must become fields first. They are parsed by the protocol's own parser
//! ([`Request::parse`]), so a quantity of `-3` gets the same `ERR BAD_REQUEST` (exit 1)
//! whichever door it was meant for. The answer is turned into the [`Reply`] the verb
//! would have had on a socket, and shown by the same code.
//!
//! The verbs: `products [max_price]`, `product <name>`, `order <product> <quantity>`,
//! `orders [n]`, `restock <product> <delta>` (admin) and `balance`.

use super::oneshot::{Failure, report, show};
use super::{Exit, Options, password_for};
use crate::grpc::client::GrpcClient;
use crate::grpc::{pb, status};
use crate::protocol::listing::Page;
use crate::protocol::{Cents, Reply, Request, token};

/// Runs one command (the verb and its arguments) against the gRPC door at `addr`.
pub fn run(options: &Options, addr: &str, words: &[String]) -> Exit {
    let verb = words.first().map(String::as_str).unwrap_or_default();
    match send(options, addr, words) {
        Ok(reply) => show(options, verb, &reply),
        Err(failure) => report(failure),
    }
}

fn send(options: &Options, addr: &str, words: &[String]) -> Result<Reply, Failure> {
    let request = Request::parse(&token::join(words)).map_err(Failure::Refused)?;
    let mut client = GrpcClient::connect(addr, options.timeout).map_err(Failure::Trouble)?;
    if let Some(user) = &options.user {
        let password = password_for(user).map_err(Failure::Trouble)?;
        client.login(user, &password).map_err(failure)?;
    }
    call(&mut client, request).map_err(failure)
}

/// One call, answered as the socket door answers the verb.
fn call(client: &mut GrpcClient, request: Request) -> Result<Reply, tonic::Status> {
    Ok(match request {
        Request::Products { max_price } => {
            let products = client.list_products(max_price.map(|cents| cents.0))?;
            let count = products.len();
            Reply::rows(
                products.into_iter().map(product_row).collect(),
                format!("{count} products"),
            )
        }
        Request::Product { name } => Reply::rows(vec![product_row(client.get_product(&name)?)], ""),
        Request::Order { product, quantity } => {
            let order = client.place_order(&product, signed(quantity))?;
            let text = format!(
                "order {}: {} x {} = {}",
                order.id,
                order.quantity,
                order.product,
                Cents(order.total_cents)
            );
            Reply::rows(vec![order_row(order)], text)
        }
        Request::Orders { count } => {
            let reply = client.list_orders(count.map_or(0, signed))?;
            let page = Page {
                total: usize::try_from(reply.total).unwrap_or(usize::MAX),
                rows: reply.orders,
            };
            let text = page.summary("orders, newest first");
            Reply::rows(page.rows.into_iter().map(order_row).collect(), text)
        }
        Request::Restock { product, delta } => {
            let product = client.restock(&product, delta)?;
            Reply::ok(format!(
                "stock of {} is now {}",
                product.name, product.stock
            ))
        }
        Request::Balance => {
            let balance = client.balance()?;
            let row = vec![balance.user, Cents(balance.balance_cents).to_string()];
            Reply::rows(vec![row], "")
        }
        other => {
            return Err(tonic::Status::unimplemented(format!(
                "{} is not a gRPC call of feira-cli: products, product, order, orders, restock, balance",
                other.verb()
            )));
        }
    })
}

/// A product as PRODUCTS lists it: name, price, stock.
fn product_row(product: pb::Product) -> Vec<String> {
    vec![
        product.name,
        Cents(product.price_cents).to_string(),
        product.stock.to_string(),
    ]
}

/// An order as ORDERS lists it: id, product, quantity, unit price, total, time.
fn order_row(order: pb::Order) -> Vec<String> {
    vec![
        order.id.to_string(),
        order.product,
        order.quantity.to_string(),
        Cents(order.unit_price_cents).to_string(),
        Cents(order.total_cents).to_string(),
        order.created_at,
    ]
}

/// Quantities were parsed within `MAX_QUANTITY`, far below `i64::MAX`.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A failed call: a refusal from feira (exit 1), or no answer at all (exit 2).
fn failure(status: tonic::Status) -> Failure {
    let refusal = status::refusal_of(&status);
    let from_feira = status
        .message()
        .split(' ')
        .next()
        .is_some_and(|first| first == refusal.code.as_str());
    if from_feira {
        Failure::Refused(refusal)
    } else {
        Failure::Trouble(format!(
            "the gRPC call failed: {:?}: {}",
            status.code(),
            status.message()
        ))
    }
}
