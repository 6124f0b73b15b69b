//! Typed indices into a program's tables. Each is a `u32` on the wire
//! (bincode writes a one-field struct as its field, so artifacts are
//! byte-for-byte what they were with bare numbers), but a route id can no
//! longer index the upstreams, nor a host pattern the path automaton's.

use bincode::{Decode, Encode};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
        pub struct $name(pub u32);

        impl $name {
            /// The id of the `index`th entry of its table.
            pub fn new(index: usize) -> Self {
                $name(u32::try_from(index).expect("tables hold fewer than 2^32 entries"))
            }

            /// The position in its table.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id! {
    /// A route: its position in `Policy::routes`, in declaration order.
    RouteId
}

id! {
    /// An upstream: its position in `Policy::upstreams`.
    UpstreamId
}

id! {
    /// An agent: its position in `Policy::agents`.
    AgentId
}

id! {
    /// A host or path pattern: its position in that automaton's patterns,
    /// or `ANY` for a route with no such condition.
    PatternId
}

impl PatternId {
    /// No condition: matches every host or path.
    pub const ANY: PatternId = PatternId(u32::MAX);

    /// Whether this stands for "no condition".
    pub fn is_any(self) -> bool {
        self == PatternId::ANY
    }

    /// Whether this is `ANY` or one of an automaton's `count` patterns.
    pub fn within(self, count: u32) -> bool {
        self.is_any() || self.0 < count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids encode exactly as the bare numbers they replaced, so the
    /// golden artifacts of earlier builds still load.
    #[test]
    fn an_id_encodes_as_its_number() {
        let config = bincode::config::standard();
        for n in [0u32, 7, 300, u32::MAX] {
            let bare = bincode::encode_to_vec(n, config).unwrap();
            assert_eq!(bincode::encode_to_vec(RouteId(n), config).unwrap(), bare);
            assert_eq!(bincode::encode_to_vec(PatternId(n), config).unwrap(), bare);
        }
    }
}
