//! The built-in server (`myriad_server`) in the test process, on
//! 127.0.0.1:0, one thread.
#![allow(dead_code)]

use std::time::Duration;

use myriad_server::{ServerConfig, ServerHandle};

/// The built-in server with its default configuration.
pub fn server() -> ServerHandle {
    server_with(ServerConfig::default())
}

/// The built-in server answering each request after `delay`.
pub fn delayed_server(delay: Duration) -> ServerHandle {
    server_with(ServerConfig {
        delay: myriad_server::Delay::Fixed(delay),
        ..ServerConfig::default()
    })
}

/// The built-in server with `config`.
pub fn server_with(config: ServerConfig) -> ServerHandle {
    let listener = myriad_server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    myriad_server::spawn(listener, config, 1).unwrap()
}

/// The server's URL: `http://127.0.0.1:PORT/`.
pub fn url(s: &ServerHandle) -> String {
    format!("http://{}/", s.local_addr())
}
