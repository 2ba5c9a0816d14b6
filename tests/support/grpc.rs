//! The gRPC door beside a [`TestServer`]: the same process, tables and journal, on a
//! free port (tests with the `grpc` feature only).

use std::time::Duration;

use feira::grpc::client::GrpcClient;
use feira::grpc::{GrpcConfig, GrpcDoor};
use feira::server::Config;

use super::client::REPLY_TIMEOUT;
use super::server::{TestServer, start_server_with};

/// A server with both doors. The gRPC door stops first when dropped.
pub struct BothDoors {
    pub door: GrpcDoor,
    pub server: TestServer,
}

/// Both doors on a copy of the demo data, with the default gRPC settings.
pub fn start_both() -> BothDoors {
    start_both_with(|_| {}, |_| {})
}

/// Both doors, after `server` and `grpc` change their settings.
pub fn start_both_with(
    server: impl FnOnce(&mut Config),
    grpc: impl FnOnce(&mut GrpcConfig),
) -> BothDoors {
    let server = start_server_with(server);
    let mut config = GrpcConfig {
        addr: "127.0.0.1:0".into(),
        ..GrpcConfig::default()
    };
    grpc(&mut config);
    let door = GrpcDoor::start(server.shared.clone(), config).expect("the gRPC door starts");
    BothDoors { door, server }
}

impl BothDoors {
    /// The gRPC door's address, as `host:port`.
    pub fn grpc_addr(&self) -> String {
        self.door.local_addr().to_string()
    }

    /// A gRPC client, not logged in.
    pub fn grpc(&self) -> GrpcClient {
        GrpcClient::connect(&self.grpc_addr(), REPLY_TIMEOUT).expect("connect to the gRPC door")
    }

    /// A gRPC client logged in as `user`.
    pub fn grpc_login(&self, (user, password): (&str, &str)) -> GrpcClient {
        let mut client = self.grpc();
        client
            .login(user, password)
            .unwrap_or_else(|e| panic!("gRPC login as {user}: {e:?}"));
        client
    }
}

/// A gRPC client that gives up quickly, for doors expected to refuse it.
pub fn impatient_client(addr: &str) -> Result<GrpcClient, String> {
    GrpcClient::connect(addr, Duration::from_secs(5))
}
