//! `pqvoice simulate`: the one-way media path offline, on a virtual clock:
//! a call's `engine::media` sender and receiver with the seeded impairment
//! model between them (`engine::offline`).

use std::path::PathBuf;
use std::time::Duration;

use engine::codec::{AudioBand, CodecConfig, SAMPLE_RATE};
use engine::netsim::ImpairmentConfig;
use engine::offline::{OfflineConfig, simulate_one_way};

/// Options of `pqvoice simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Speech to send (WAV, any rate).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write what the receiver played (48 kHz mono 16-bit WAV).
    #[arg(long)]
    pub output: PathBuf,
    /// Random loss in percent.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Mean loss-burst length in packets.
    #[arg(long, default_value_t = 1.0)]
    pub burst: f64,
    /// One-way delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub delay: u64,
    /// Delay variation (±) in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub jitter: u64,
    /// Seed of the loss model.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Opus bitrate in bit/s (CBR); default: the highest that fits the packet.
    #[arg(long)]
    pub bitrate: Option<i32>,
    /// Earlier frames repeated in each packet.
    #[arg(long, default_value_t = 1)]
    pub redundancy: usize,
    /// Length of every sealed packet; 0 fits the bitrate to the default packet.
    #[arg(long, default_value_t = engine::codec::DEFAULT_PACKET_LEN as usize)]
    pub packet_len: usize,
    /// Opus in-band FEC.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub fec: bool,
    /// Audio band: wideband, superwideband, fullband, or auto (what a call
    /// uses: wideband with redundancy, super-wideband without).
    #[arg(long, default_value = "auto")]
    pub band: String,
    /// Opus encoder complexity, 0 (cheapest) to 10.
    #[arg(long, default_value_t = CodecConfig::default().complexity,
          value_parser = clap::value_parser!(i32).range(0..=10))]
    pub complexity: i32,
}

/// Runs the simulation and prints its statistics as JSON on stdout.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let band = match args.band.as_str() {
        "wideband" => AudioBand::Wideband,
        "superwideband" => AudioBand::Superwideband,
        "fullband" => AudioBand::Fullband,
        "auto" if args.redundancy > 0 => AudioBand::Wideband,
        "auto" => AudioBand::Superwideband,
        other => anyhow::bail!("unknown band {other:?}"),
    };
    let input = engine::audio::read_wav_mono_48k(&args.input)?;
    let cfg = OfflineConfig {
        codec: CodecConfig {
            bitrate: args.bitrate.unwrap_or_else(|| {
                CodecConfig::default()
                    .fitted(args.packet_len, args.redundancy)
                    .bitrate
            }),
            inband_fec: args.fec,
            band,
            complexity: args.complexity,
        },
        redundancy: args.redundancy,
        packet_len: args.packet_len,
        network: ImpairmentConfig {
            loss: args.loss / 100.0,
            burst: args.burst,
            delay: Duration::from_millis(args.delay),
            jitter: Duration::from_millis(args.jitter),
            ..Default::default()
        },
        seed: args.seed,
        drift: 0.0,
    };
    cfg.network.validate().map_err(anyhow::Error::msg)?;
    let (out, stats) = simulate_one_way(&input, &cfg)?;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&args.output, spec)?;
    for x in out {
        w.write_sample((x.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
    }
    w.finalize()?;
    println!("{}", serde_json::to_string(&stats)?);
    Ok(())
}
