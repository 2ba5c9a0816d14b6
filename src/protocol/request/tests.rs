//! Parsing and encoding requests: every verb, every refusal, and the round trip.

use super::*;
use crate::protocol::ErrorCode;
use crate::protocol::verbs::VERBS;
use proptest::prelude::*;

fn code(line: &str) -> ErrorCode {
    Request::parse(line).expect_err(line).code
}

#[test]
fn parses_every_verb_case_insensitively() {
    assert_eq!(Request::parse("ping"), Ok(Request::Ping));
    assert_eq!(
        Request::parse("order \"Maçã\" 3"),
        Ok(Request::Order {
            product: "Maçã".into(),
            quantity: 3
        })
    );
    assert_eq!(
        Request::parse("Restock Caju -20"),
        Ok(Request::Restock {
            product: "Caju".into(),
            delta: -20
        })
    );
    assert_eq!(
        Request::parse("PRODUCTS 5.00"),
        Ok(Request::Products {
            max_price: Some(Cents(500))
        })
    );
    assert_eq!(
        Request::parse("products"),
        Ok(Request::Products { max_price: None })
    );
}

#[test]
fn refuses_bad_arguments() {
    assert_eq!(code(""), ErrorCode::BadRequest);
    assert_eq!(code("FLY me"), ErrorCode::UnknownCommand);
    assert_eq!(code("ORDER Caju"), ErrorCode::BadRequest);
    assert_eq!(code("ORDER Caju 1 2"), ErrorCode::BadRequest);
    assert_eq!(code("PING extra"), ErrorCode::BadRequest);
    for qty in [
        "0",
        "-1",
        "x",
        "1.5",
        "99999999999999999999",
        "1000000001",
        "+1",
    ] {
        assert_eq!(
            code(&format!("ORDER Caju {qty}")),
            ErrorCode::BadRequest,
            "{qty}"
        );
    }
    assert_eq!(code("RESTOCK Caju --1"), ErrorCode::BadRequest);
    assert_eq!(code("RESTOCK Caju -"), ErrorCode::BadRequest);
    assert_eq!(code("PRODUCTS 1e3"), ErrorCode::BadRequest);
    assert_eq!(code("ORDER \"Caju 1"), ErrorCode::BadRequest);
}

#[test]
fn file_sharing_verbs() {
    assert_eq!(
        Request::parse("connect 40001"),
        Ok(Request::Connect { port: 40001 })
    );
    assert_eq!(
        Request::parse(r#"PUBLISH "fotos/praia, 2026.jpg" "Férias \"boas\" em Maçã""#),
        Ok(Request::Publish {
            file_name: "fotos/praia, 2026.jpg".into(),
            description: "Férias \"boas\" em Maçã".into()
        })
    );
    assert_eq!(Request::parse("list_users"), Ok(Request::ListUsers));
    for port in ["0", "65536", "70000", "abc", "-1", "+80", "80.0", "\"\""] {
        assert_eq!(
            code(&format!("CONNECT {port}")),
            ErrorCode::BadRequest,
            "{port:?}"
        );
    }
    assert_eq!(code("CONNECT"), ErrorCode::BadRequest);
    assert_eq!(code("PUBLISH only-a-name"), ErrorCode::BadRequest);
    assert_eq!(code("LIST_CONTENT"), ErrorCode::BadRequest);
    for name in FILE_SHARING_VERBS {
        assert!(verb_spec(name).is_some(), "{name} is in VERBS");
    }
    assert!(Request::Disconnect.is_file_sharing());
    assert!(!Request::Orders { count: None }.is_file_sharing());
}

#[test]
fn passwords_never_appear_in_debug_output() {
    let request = Request::parse("LOGIN alice hunter22").unwrap();
    assert!(!format!("{request:?}").contains("hunter22"));
}

#[test]
fn every_verb_has_a_parser() {
    for spec in VERBS {
        // Fill every argument slot with a plausible value.
        let args: Vec<&str> = spec
            .args
            .split_whitespace()
            .filter(|a| a.starts_with('<'))
            .map(|a| match a {
                "<pay_key>" => "0000-0000-0000-0001",
                _ => "1",
            })
            .collect();
        let line = format!("{} {}", spec.name, args.join(" "));
        let request = Request::parse(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(request.verb(), spec.name);
    }
}

#[test]
fn parses_the_wallet_verbs() {
    let key: PayKey = "7KQ2-M9XD-4TRW-8BNP".parse().unwrap();
    assert_eq!(Request::parse("balance"), Ok(Request::Balance));
    assert_eq!(Request::parse("PAYKEY"), Ok(Request::Paykey));
    assert_eq!(
        Request::parse("TRANSFER 7kq2-m9xd-4trw-8bnp 12.5"),
        Ok(Request::Transfer {
            key,
            amount: Cents(1250)
        })
    );
    assert_eq!(
        Request::parse("TRANSFERS"),
        Ok(Request::Transfers { count: None })
    );
    assert_eq!(
        Request::parse("TRANSFERS 5"),
        Ok(Request::Transfers { count: Some(5) })
    );
    assert_eq!(
        Request::parse("orders"),
        Ok(Request::Orders { count: None })
    );
    assert_eq!(
        Request::parse("ORDERS 1000"),
        Ok(Request::Orders { count: Some(1000) })
    );
    assert_eq!(
        Request::parse("LIST_CONTENT \"joão\" 3"),
        Ok(Request::ListContent {
            user: "joão".into(),
            count: Some(3)
        })
    );
    assert_eq!(
        Request::parse("DEPOSIT joão 0.01"),
        Ok(Request::Deposit {
            user: "joão".into(),
            amount: Cents(1)
        })
    );
}

#[test]
fn refuses_bad_amounts_keys_and_counts() {
    let key = "7KQ2-M9XD-4TRW-8BNP";
    for amount in [
        "-1",
        "0",
        "0.00",
        "1.234",
        "1e3",
        "NaN",
        "99999999999999999999",
        "",
    ] {
        assert_eq!(
            code(&format!("TRANSFER {key} \"{amount}\"")),
            ErrorCode::BadRequest,
            "{amount:?}"
        );
        assert_eq!(
            code(&format!("DEPOSIT alice \"{amount}\"")),
            ErrorCode::BadRequest,
            "{amount:?}"
        );
    }
    for bad_key in ["x", "7KQ2-M9XD-4TRW", "7KQ2-M9XD-4TRW-8BNU", "\"\""] {
        assert_eq!(
            code(&format!("TRANSFER {bad_key} 1.00")),
            ErrorCode::BadRequest,
            "{bad_key}"
        );
    }
    assert_eq!(code(&format!("TRANSFER {key}")), ErrorCode::BadRequest);
    assert_eq!(code(&format!("TRANSFER {key} 1 2")), ErrorCode::BadRequest);
    for count in ["0", "-1", "1001", "x", "+3", "1.5", "\"\""] {
        for verb in ["TRANSFERS", "ORDERS", "LIST_CONTENT alice"] {
            assert_eq!(
                code(&format!("{verb} {count}")),
                ErrorCode::BadRequest,
                "{verb} {count}"
            );
        }
    }
    assert_eq!(code("ORDERS 5 6"), ErrorCode::BadRequest);
    assert_eq!(code("LIST_CONTENT alice 5 6"), ErrorCode::BadRequest);
    assert_eq!(code("BALANCE alice"), ErrorCode::BadRequest);
}

#[test]
fn names_arrive_in_their_canonical_form() {
    let decomposed = "Mac\u{327}a\u{303}";
    assert_eq!(
        Request::parse(&format!("ORDER \"{decomposed}\" 1")),
        Ok(Request::Order {
            product: "Maçã".into(),
            quantity: 1
        })
    );
    assert_eq!(
        Request::parse("LOGIN ALICE Alice-Pass"),
        Ok(Request::Login {
            user: "alice".into(),
            password: Secret("Alice-Pass".into())
        }),
        "the user name is folded, the password is not"
    );
    assert_eq!(
        Request::parse("LIST_CONTENT \u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}"),
        Ok(Request::ListContent {
            user: "admin".into(),
            count: None
        })
    );
    // A password keeps its bytes, even those refused in names.
    assert_eq!(
        Request::parse("UNREGISTER \"pass\\tword\""),
        Ok(Request::Unregister {
            password: Secret("pass\tword".into())
        })
    );
}

#[test]
fn control_and_bidi_characters_are_refused_in_every_name() {
    for line in [
        "ADD_PRODUCT \"a\u{1b}[31mb\" 1.00 1",
        "PRODUCT \"\u{7}\"",
        "ORDER \"Caju\u{202e}\" 1",
        "RESTOCK \"Caju\u{9b}\" 1",
        "PUBLISH \"gpj.\u{202e}exe\" x",
        "PUBLISH ok.txt \"desc\u{2066}\"",
        "DELETE \"a\u{7f}\"",
        "LIST_CONTENT \"bob\u{0}\"",
        "REGISTER \"eve\u{200f}\" eve-password",
        "LOGIN \"alice\\n\" alice-pass",
        "HELP \"PING\u{1b}\"",
    ] {
        assert_eq!(code(line), ErrorCode::BadRequest, "{line:?}");
    }
}

proptest! {
    /// The client's encoding is what the server parses.
    #[test]
    fn to_line_then_parse_round_trips(
        product in "\\PC{1,20}",
        quantity in 1..=MAX_QUANTITY,
        delta in -(MAX_QUANTITY as i64)..=(MAX_QUANTITY as i64),
    ) {
        // The parser hands back names in their canonical form: start from that.
        let product = names::nfc(&product).into_owned();
        let user = names::user_name(&product);
        for request in [
            Request::Deposit { user: user.clone(), amount: Cents(quantity as i64) },
            Request::Order { product: product.clone(), quantity },
            Request::Restock { product: product.clone(), delta },
            Request::Product { name: product.clone() },
            Request::Publish { file_name: product.clone(), description: product.clone() },
            Request::ListContent { user: user.clone(), count: None },
            Request::ListContent { user: user.clone(), count: Some(quantity % 1000 + 1) },
            Request::Orders { count: Some(quantity % 1000 + 1) },
        ] {
            prop_assert_eq!(Request::parse(&request.to_line()), Ok(request));
        }
    }

    /// No line makes the parser panic.
    #[test]
    fn parse_never_panics(line in any::<String>()) {
        let _ = Request::parse(&line);
    }
}
