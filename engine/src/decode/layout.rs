//! Channel layouts as symphonia describes them (speaker position bits or a discrete count),
//! mapped to the engine's [`ChannelRole`]s.

use symphonia::core::audio::{Channels, Position};

use crate::channels::{ChannelRole, default_layout};

/// The role of each plane of a stream with `channels`.
pub(super) fn layout_of(channels: &Channels) -> Vec<ChannelRole> {
    match channels {
        // One channel is mono wherever it is placed (Ogg Opus says front left).
        Channels::Positioned(pos) if pos.bits().count_ones() == 1 => vec![ChannelRole::Mono],
        Channels::Positioned(pos) => (0..64)
            .map(|bit| 1u64 << bit)
            .filter(|b| pos.bits() & b != 0)
            .map(|b| role_of(Position::from_bits_truncate(b)))
            .collect(),
        Channels::Discrete(n) => default_layout(usize::from(*n)),
        other => vec![ChannelRole::Other; other.count()],
    }
}

fn role_of(p: Position) -> ChannelRole {
    const SURROUND: Position = Position::REAR_LEFT
        .union(Position::REAR_RIGHT)
        .union(Position::REAR_CENTER)
        .union(Position::SIDE_LEFT)
        .union(Position::SIDE_RIGHT);
    if p == Position::FRONT_LEFT {
        ChannelRole::Left
    } else if p == Position::FRONT_RIGHT {
        ChannelRole::Right
    } else if p == Position::FRONT_CENTER {
        ChannelRole::Center
    } else if p == Position::LFE1 || p == Position::LFE2 {
        ChannelRole::Lfe
    } else if SURROUND.contains(p) {
        ChannelRole::Surround
    } else {
        ChannelRole::Other
    }
}
