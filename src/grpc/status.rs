//! feira's refusals as gRPC status codes: one table, one way.
//!
//! Why keep feira's code in the message: gRPC has 17 status codes and feira has more
//! refusals than that (INSUFFICIENT_STOCK and INSUFFICIENT_FUNDS are both
//! `FAILED_PRECONDITION`). The status code tells a generic gRPC tool what kind of
//! failure it was; the message starts with feira's code, then the same words the socket
//! door sends after `ERR CODE`: `NOT_FOUND no product named "Kiwi": try PRODUCTS`. A
//! client that needs the exact reason reads the first word ([`refusal_of`]).
//!
//! The table is docs/RPC.md's, "Errors".

use tonic::{Code, Status};

use crate::protocol::{ErrorCode, Refusal};

/// What a CONFLICT means for the call that got it: a name already taken by something
/// that exists (`ALREADY_EXISTS`), or a change refused because of the state it met
/// (`ABORTED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The call creates something, and its name is taken (AddProduct).
    AlreadyExists,
    /// Any other clash with the current state (a transfer to one's own key, a balance
    /// that would pass the maximum).
    Aborted,
}

/// The gRPC code for a feira error code.
pub fn code_of(code: &ErrorCode, conflict: Conflict) -> Code {
    match code {
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::InsufficientStock | ErrorCode::InsufficientFunds => Code::FailedPrecondition,
        ErrorCode::BadRequest | ErrorCode::LineTooLong => Code::InvalidArgument,
        ErrorCode::AuthRequired | ErrorCode::AuthFailed => Code::Unauthenticated,
        ErrorCode::Forbidden => Code::PermissionDenied,
        ErrorCode::Conflict => match conflict {
            Conflict::AlreadyExists => Code::AlreadyExists,
            Conflict::Aborted => Code::Aborted,
        },
        // Refused before any work, with when to retry: gRPC's code for a quota.
        ErrorCode::Throttled => Code::ResourceExhausted,
        ErrorCode::Busy => Code::Unavailable,
        ErrorCode::Timeout => Code::DeadlineExceeded,
        ErrorCode::UnknownCommand => Code::Unimplemented,
        // The file-sharing codes have no gRPC call; an unknown code is the server's
        // own failure to explain itself.
        ErrorCode::NotConnected | ErrorCode::AlreadyConnected => Code::FailedPrecondition,
        ErrorCode::Internal | ErrorCode::Other(_) => Code::Internal,
    }
}

/// The status for a refusal: its code mapped, and `CODE message` as the message.
pub fn of(refusal: Refusal, conflict: Conflict) -> Status {
    Status::new(code_of(&refusal.code, conflict), refusal.to_string())
}

/// The refusal a status carries: feira's code from the first word of its message, or,
/// for a status that did not come from feira (a transport failure, a size limit), the
/// nearest feira code and the whole message.
pub fn refusal_of(status: &Status) -> Refusal {
    let message = status.message();
    if let Some((first, rest)) = message.split_once(' ')
        && let Some(code) = ErrorCode::parse(first)
        && !matches!(code, ErrorCode::Other(_))
    {
        return Refusal::new(code, rest);
    }
    let code = match status.code() {
        Code::NotFound => ErrorCode::NotFound,
        Code::InvalidArgument | Code::OutOfRange => ErrorCode::BadRequest,
        Code::Unauthenticated => ErrorCode::AuthRequired,
        Code::PermissionDenied => ErrorCode::Forbidden,
        Code::AlreadyExists | Code::Aborted => ErrorCode::Conflict,
        Code::ResourceExhausted => ErrorCode::Throttled,
        Code::Unavailable => ErrorCode::Busy,
        Code::DeadlineExceeded => ErrorCode::Timeout,
        Code::Unimplemented => ErrorCode::UnknownCommand,
        _ => ErrorCode::Internal,
    };
    Refusal::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_keeps_its_name_in_the_message_and_comes_back() {
        for code in ErrorCode::ALL {
            let refusal = Refusal::new(code.clone(), "why, in words");
            let status = of(refusal.clone(), Conflict::Aborted);
            assert!(status.message().starts_with(code.as_str()), "{status:?}");
            assert_eq!(refusal_of(&status), refusal);
        }
    }

    #[test]
    fn the_table_of_docs_rpc() {
        let cases = [
            (ErrorCode::NotFound, Code::NotFound),
            (ErrorCode::InsufficientStock, Code::FailedPrecondition),
            (ErrorCode::InsufficientFunds, Code::FailedPrecondition),
            (ErrorCode::BadRequest, Code::InvalidArgument),
            (ErrorCode::AuthRequired, Code::Unauthenticated),
            (ErrorCode::AuthFailed, Code::Unauthenticated),
            (ErrorCode::Forbidden, Code::PermissionDenied),
            (ErrorCode::Internal, Code::Internal),
            (ErrorCode::Throttled, Code::ResourceExhausted),
        ];
        for (feira, grpc) in cases {
            assert_eq!(code_of(&feira, Conflict::Aborted), grpc, "{feira}");
        }
        let conflict = ErrorCode::Conflict;
        assert_eq!(
            code_of(&conflict, Conflict::AlreadyExists),
            Code::AlreadyExists
        );
        assert_eq!(code_of(&conflict, Conflict::Aborted), Code::Aborted);
    }

    #[test]
    fn a_status_from_elsewhere_keeps_its_whole_message() {
        let status = Status::resource_exhausted("message too large");
        let refusal = refusal_of(&status);
        assert_eq!(refusal.code, ErrorCode::Throttled);
        assert_eq!(refusal.message, "message too large");
    }
}
