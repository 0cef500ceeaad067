//! How many threads one job may use: the choice is made by the caller and passed down to every
//! stage that could use a helper thread (the pass-2 encoder, the meters' loudness and true-peak
//! halves).
//! Nothing reads it from process-wide state.

/// Whether one job may run its stages on helper threads.
///
/// [`Threads::Pipelined`] (the default) runs the encoder of the apply pass and each meter's
/// two halves (loudness, true peak) on helper threads, so the thread that decodes does nothing
/// else: this roughly halves one file's wall time on a machine with a free core. Runners that already keep every core busy with separate files (a
/// batch over many inputs) choose [`Threads::Single`]: parallel files need no hand-offs between
/// threads, so the same cores do more. Outputs and figures are identical either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Threads {
    /// The encoder and each meter's loudness and true-peak halves run on helper threads.
    #[default]
    Pipelined,
    /// Everything runs on the caller's thread.
    Single,
}
