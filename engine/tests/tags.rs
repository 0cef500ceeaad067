//! The metadata copy keeps every value of a multi-valued field (two ARTIST comments stay two),
//! from FLAC and Ogg inputs to every output that can carry several.

use audioproc_engine::tags::Metadata;
use audioproc_engine::{OutputFormat, Overwrite, Preset, ProcessingSpec, process_file};
use audioproc_testdata::signal::tonal;
use audioproc_testdata::writers::flac;
use lofty::config::WriteOptions;
use lofty::ogg::tag::VorbisComments;
use lofty::tag::TagExt;

#[test]
fn two_artist_values_survive_the_metadata_copy() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.flac");
    std::fs::write(&input, flac(&tonal(44_100, 2, 3.0, 0.01), 16)).expect("write");
    let mut comments = VorbisComments::default();
    comments.push(String::from("TITLE"), String::from("Duet"));
    comments.push(String::from("ARTIST"), String::from("First Singer"));
    comments.push(String::from("ARTIST"), String::from("Second Singer"));
    comments.save_to_path(&input, WriteOptions::default()).expect("tag the input");
    let artists = ["First Singer", "Second Singer"];
    assert_eq!(Metadata::read(&input).expect("reads").get_all("artist"), artists, "both are read");

    let mut previous = input;
    for format in [OutputFormat::Flac, OutputFormat::Opus, OutputFormat::Flac] {
        let output =
            dir.path().join(format!("from-{}.{}", previous.file_name().expect("name").display(), format.extension()));
        process_file(&previous, &output, &ProcessingSpec::new(Preset::Ebu, format), Overwrite::Never, &|_| {})
            .expect("processed");
        let meta = Metadata::read(&output).expect("reads");
        assert_eq!(meta.get_all("artist"), artists, "{}", output.display());
        assert_eq!(meta.get_all("title"), ["Duet"], "{}", output.display());
        previous = output;
    }
}
