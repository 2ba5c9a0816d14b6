//! Every verb parses and encodes back to itself; malformed messages are refused.

use super::*;
use crate::protocol::ErrorCode;

fn ring() -> Ring {
    Ring::new(6).unwrap()
}

fn node(id: u64, port: u16) -> NodeRef {
    NodeRef {
        id: ring().id(id).unwrap(),
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
    }
}

#[test]
fn every_message_round_trips() {
    let id = ring().id(42).unwrap();
    let messages = [
        Message::Help { verb: None },
        Message::Help {
            verb: Some("put".into()),
        },
        Message::Quit,
        Message::Lookup {
            key: "Maçã verde".into(),
        },
        Message::Put {
            key: "k".into(),
            value: "".into(),
        },
        Message::Get { key: "k".into() },
        Message::Ring,
        Message::Fingers,
        Message::Keys,
        Message::Leave,
        Message::Ping,
        Message::FindSuccessor { id },
        Message::NextHop { id },
        Message::GetPredecessor,
        Message::GetSuccessors,
        Message::Notify {
            node: node(8, 7000),
        },
        Message::Store {
            key: "a b".into(),
            value: "\"q\"".into(),
        },
        Message::Fetch { key: "a".into() },
        Message::Replicate {
            lo: ring().id(8).unwrap(),
            hi: id,
            key: "Caju".into(),
            version: Version {
                stamp: 1_764_547_200_123,
                writer: 42,
            },
            value: "R$ 3,00".into(),
        },
        Message::Sync {
            lo: ring().id(8).unwrap(),
            hi: id,
            digest: u64::MAX,
        },
        Message::Handoff {
            key: "Maçã".into(),
            version: Version {
                stamp: 1,
                writer: 0,
            },
            value: "".into(),
        },
        Message::Join {
            node: node(9, 7009),
        },
        Message::PredecessorLeaves {
            leaving: id,
            predecessor: None,
        },
        Message::PredecessorLeaves {
            leaving: id,
            predecessor: Some(node(1, 7001)),
        },
        Message::SuccessorLeaves {
            leaving: id,
            successors: vec![node(50, 7002), node(60, 7003)],
        },
    ];
    for message in &messages {
        let line = message.to_line();
        assert_eq!(
            Message::parse(&line, ring()).as_ref(),
            Ok(message),
            "{line}"
        );
    }
    // The list above covers every verb in the table, and nothing else.
    let covered: std::collections::BTreeSet<&str> = messages.iter().map(Message::verb).collect();
    let table: std::collections::BTreeSet<&str> = VERBS.iter().map(|v| v.name).collect();
    assert_eq!(covered, table);
}

#[test]
fn replication_messages_refuse_bad_versions_and_digests() {
    for line in [
        "REPLICATE 1 2 k 10 v",
        "REPLICATE 1 2 k 10/x v",
        "REPLICATE 1 99 k 10/1 v",
        "HANDOFF k -1/1 v",
        "SYNC 1 2 abc",
        "SYNC 1 2 -5",
        "JOIN 9 nowhere",
    ] {
        let refusal = Message::parse(line, ring()).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::BadRequest, "{line}");
    }
}

#[test]
fn verbs_are_case_insensitive() {
    assert_eq!(Message::parse("ping", ring()), Ok(Message::Ping));
    assert_eq!(
        Message::parse("next_hop 5", ring()),
        Ok(Message::NextHop {
            id: ring().id(5).unwrap()
        })
    );
}

#[test]
fn malformed_ids_and_addresses_are_bad_requests() {
    for line in [
        "NEXT_HOP 64",
        "NEXT_HOP -1",
        "NEXT_HOP x",
        "FIND_SUCCESSOR",
        "NOTIFY 5",
        "NOTIFY 5 localhost",
        "NOTIFY 5 127.0.0.1",
        "NOTIFY 99 127.0.0.1:7000",
        "SUCCESSOR_LEAVES 5",
        "SUCCESSOR_LEAVES 5 6 127.0.0.1:1 7",
        "PREDECESSOR_LEAVES 5 6",
        "PING extra",
        "PUT onlykey",
        "\"unclosed",
        "",
    ] {
        let refusal = Message::parse(line, ring()).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::BadRequest, "{line:?}");
    }
    let refusal = Message::parse("NEXT_HOP 64", ring()).unwrap_err();
    assert!(refusal.message.contains("0 to 63"), "{}", refusal.message);
    assert_eq!(
        Message::parse("FROB", ring()).unwrap_err().code,
        ErrorCode::UnknownCommand
    );
}

#[test]
fn successor_lists_are_bounded() {
    let mut line = "SUCCESSOR_LEAVES 1".to_string();
    for i in 0..=MAX_SUCCESSORS {
        line.push_str(&format!(" 2 127.0.0.1:{}", 7000 + i));
    }
    assert_eq!(
        Message::parse(&line, ring()).unwrap_err().code,
        ErrorCode::BadRequest
    );
}
