//! How many threads one job may use: the choice is made by the caller and passed down to every
//! stage that could use a helper thread (the pass-2 encoder, the meters' true-peak detection).
//! Nothing reads it from process-wide state.

/// Whether one job may run its stages on helper threads.
///
/// [`Threads::Pipelined`] (the default) runs the encoder of the apply pass and the meters'
/// true-peak oversampling on helper threads: this nearly halves one file's wall time on a
/// machine with a free core. Runners that already keep every core busy with separate files (a
/// batch over many inputs) choose [`Threads::Single`]: parallel files need no hand-offs between
/// threads, so the same cores do more. Outputs and figures are identical either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Threads {
    /// The encoder and the true-peak meter each run on a helper thread.
    #[default]
    Pipelined,
    /// Everything runs on the caller's thread.
    Single,
}
