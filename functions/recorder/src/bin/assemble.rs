//! `skycast-assemble <rendition folder> <out.mp4>`: the recorder's assembly
//! on local files, e.g. a rendition folder copied from the live bucket. It
//! prints what it wrote as JSON. The benchmark measures the recorder with it.

use anyhow::Context;
use skycast_recorder::{assemble::assemble, local::LocalMedia, media::Mp4Meta};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(folder), Some(out)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: skycast-assemble <rendition folder with init.mp4, seg_*.m4s> <out.mp4>");
    };
    let folder = std::path::PathBuf::from(folder);
    let out = std::path::PathBuf::from(out);
    let (parent, name) = match (out.parent(), out.file_name()) {
        (Some(p), Some(n)) => (if p.as_os_str().is_empty() { std::path::Path::new(".") } else { p }, n),
        _ => anyhow::bail!("{} is not a file path", out.display()),
    };
    let media = LocalMedia::new(&folder, parent);
    let meta = |duration_s| Mp4Meta { stream_id: String::new(), session_id: String::new(), duration_s };
    let done = assemble(&media, "", &name.to_string_lossy(), meta)
        .await
        .with_context(|| format!("assembling {}", folder.display()))?;
    println!(
        "{}",
        serde_json::json!({"size": done.size, "duration_s": done.duration_s, "segments": done.segments, "generations": done.generations})
    );
    Ok(())
}
