//! The values of the enumerated options, as `clap::ValueEnum`s: clap lists them in the
//! help and refuses anything else while parsing, naming the flag.
//!
//! Each enum mirrors a library type and converts into it with `From`. The mirrors live
//! here rather than as `derive(clap::ValueEnum)` on the library's enums so that the
//! library (which the Python binding and other front ends use) does not depend on clap,
//! and so that the CLI's spelling of a flag value stays the CLI's business. The names
//! cannot drift from the library's: the tests below check every mirror's name against
//! the library's `Display` and `FromStr`.

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::str::FromStr;

use clap::ValueEnum;
use clap::builder::{EnumValueParser, PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use nncert::baselines::dpa::Units;
use nncert::certify::threat::Threat;
use nncert::features::hog::BlockNorm;
use nncert::paper::PaperDataset;
use nncert::{Certification, Method, Metric, TieRule};

/// The value parser of an option whose values are `C`'s, parsed into the library's `L`:
/// the help lists `C`'s values and the fields keep the library's types.
pub fn value_of<C, L>() -> impl TypedValueParser<Value = L>
where
    C: ValueEnum + Clone + Send + Sync + 'static,
    L: From<C> + Clone + Send + Sync + 'static,
{
    EnumValueParser::<C>::new().map(L::from)
}

/// [`value_of`] for a library type that parses itself: a refused value is reported in the
/// library's words (`--metric: metric: expected l1, l2, linf, ip or cosine, found `l3``),
/// the same words whichever front end (CLI, Python, a config) gave the value.
pub fn library_value_of<C, L>() -> LibraryValue<C, L>
where
    C: ValueEnum + Clone + Send + Sync + 'static,
    L: From<C> + FromStr + Clone + Send + Sync + 'static,
    L::Err: std::fmt::Display,
{
    LibraryValue(PhantomData)
}

/// See [`library_value_of`].
#[derive(Clone)]
pub struct LibraryValue<C, L>(PhantomData<fn() -> (C, L)>);

impl<C, L> TypedValueParser for LibraryValue<C, L>
where
    C: ValueEnum + Clone + Send + Sync + 'static,
    L: From<C> + FromStr + Clone + Send + Sync + 'static,
    L::Err: std::fmt::Display,
{
    type Value = L;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<L, clap::Error> {
        let refused = match EnumValueParser::<C>::new().parse_ref(cmd, arg, value) {
            Ok(choice) => return Ok(L::from(choice)),
            Err(refused) => refused,
        };
        match value.to_str().map(str::parse::<L>) {
            Some(Err(why)) => {
                let flag = arg.map_or_else(String::new, |a| match a.get_long() {
                    Some(long) => format!("--{long}: "),
                    None => format!("{}: ", a.get_id()),
                });
                Err(
                    clap::Error::raw(ErrorKind::ValueValidation, format!("{flag}{why}\n"))
                        .with_cmd(cmd),
                )
            }
            // Not text, or a value the library knows but this option does not offer.
            _ => Err(refused),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            C::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

/// A `ValueEnum` mirroring a library enum: variants, their flag names when clap's
/// kebab-case of the variant is not it, and the library value each stands for.
macro_rules! mirror {
    (
        $(#[$doc:meta])*
        $name:ident => $lib:ty {
            $($(#[$vdoc:meta])* $variant:ident $(as $text:literal)? => $value:expr,)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        pub enum $name {
            $($(#[$vdoc])* $(#[value(name = $text)])? $variant,)+
        }

        impl From<$name> for $lib {
            fn from(choice: $name) -> $lib {
                match choice {
                    $($name::$variant => $value,)+
                }
            }
        }
    };
}

mirror! {
    /// `--metric`.
    MetricChoice => Metric {
        /// Σ|u − v| (the paper's).
        L1 => Metric::L1,
        /// Euclidean distance.
        L2 => Metric::L2,
        /// max|u − v|.
        Linf => Metric::Linf,
        /// Inner product: nearer = larger x·y; --rnn r keeps x·y ≥ r.
        Ip => Metric::Ip,
        /// 1 − cosine similarity, in [0, 2].
        Cosine => Metric::Cosine,
    }
}

mirror! {
    /// `--tie-rule`.
    TieChoice => TieRule {
        /// The larger label wins equal votes (the paper's).
        Larger => TieRule::Larger,
        /// The smaller label wins (DPA's convention).
        Smaller => TieRule::Smaller,
    }
}

mirror! {
    /// `--threat` (docs/METHOD.md §8).
    ThreatChoice => Threat {
        /// Insertions, deletions and modifications.
        General => Threat::General,
        /// Insertions only.
        Insert => Threat::Insert,
        /// Deletions only.
        Delete => Threat::Delete,
        /// Label flips only.
        Flip => Threat::Flip,
    }
}

mirror! {
    /// `--kind` of certify-votes: the classifiers whose vote counts can be certified.
    VotesKindChoice => Method {
        /// k nearest neighbours.
        Knn => Method::Knn,
        /// Neighbours within radius r.
        Rnn => Method::Rnn,
        /// Deep Partition Aggregation.
        Dpa => Method::Dpa,
        /// Bagging.
        Bagging => Method::Bagging,
    }
}

mirror! {
    /// `--method` of certify-ensemble: the defenses certified from base models' outputs.
    EnsembleMethodChoice => Method {
        /// Deep Partition Aggregation.
        Dpa => Method::Dpa,
        /// Finite Aggregation.
        Fa => Method::Fa,
        /// Run-Off Election on DPA.
        RoeDpa => Method::RoeDpa,
        /// Run-Off Election on FA.
        RoeFa => Method::RoeFa,
    }
}

mirror! {
    /// `--units`.
    UnitsChoice => Units {
        /// nncert's: a modification counts 1.
        Poisoning => Units::Poisoning,
        /// Insertions and deletions: a modification counts 2.
        Insdel => Units::Insdel,
    }
}

mirror! {
    /// `--hog-norm`.
    HogNormChoice => BlockNorm {
        L1 as "L1" => BlockNorm::L1,
        L1Sqrt as "L1-sqrt" => BlockNorm::L1Sqrt,
        L2 as "L2" => BlockNorm::L2,
        L2Hys as "L2-Hys" => BlockNorm::L2Hys,
    }
}

mirror! {
    /// `reproduce --datasets` and `fetch`: the paper's datasets.
    PaperChoice => PaperDataset {
        Mnist => PaperDataset::Mnist,
        Cifar10 => PaperDataset::Cifar10,
    }
}

impl PaperChoice {
    /// The name on the command line (and of the output subdirectory).
    pub fn name(self) -> &'static str {
        match self {
            PaperChoice::Mnist => "mnist",
            PaperChoice::Cifar10 => "cifar10",
        }
    }
}

/// `--features`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FeaturesChoice {
    /// Histograms of oriented gradients (scikit-image semantics, docs/METHOD.md §6).
    Hog,
    /// The pixels, or your features, as they are.
    Raw,
}

/// `--dataset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetChoice {
    /// The MNIST subset built into nncert.
    Embedded,
    /// MNIST from --data-dir.
    Mnist,
    /// CIFAR-10 from --data-dir.
    Cifar10,
    /// Your own features: --train-features and friends.
    Npy,
}

impl DatasetChoice {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DatasetChoice::Embedded => "embedded",
            DatasetChoice::Mnist => "mnist",
            DatasetChoice::Cifar10 => "cifar10",
            DatasetChoice::Npy => "npy",
        }
    }
}

/// One value of `--joint`: a joint certification, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JointChoice(pub Option<Certification>);

/// The values `--joint` accepts, in the order the help lists them. One line per value:
/// a new joint certification is one more line here.
const JOINT_CHOICES: &[(&str, Option<Certification>)] = &[
    ("island", Some(Certification::Island)),
    ("rd", Some(Certification::Rd)),
    ("island-label", Some(Certification::IslandLabel)),
    ("rd-label", Some(Certification::RdLabel)),
    ("polish", Some(Certification::Polish)),
    ("polish-label", Some(Certification::PolishLabel)),
    ("cluster", Some(Certification::Cluster)),
    ("cluster-label", Some(Certification::ClusterLabel)),
    ("lp", Some(Certification::Lp)),
    ("lp-label", Some(Certification::LpLabel)),
    ("search-label", Some(Certification::SearchLabel)),
    ("best", Some(Certification::Best)),
    ("none", None),
];

/// [`JOINT_CHOICES`] as values, for [`ValueEnum::value_variants`].
impl From<JointChoice> for Option<Certification> {
    fn from(choice: JointChoice) -> Self {
        choice.0
    }
}

static JOINT_VALUES: std::sync::LazyLock<Vec<JointChoice>> =
    std::sync::LazyLock::new(|| JOINT_CHOICES.iter().map(|&(_, c)| JointChoice(c)).collect());

impl ValueEnum for JointChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &JOINT_VALUES
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        JOINT_CHOICES
            .iter()
            .find(|(_, c)| *c == self.0)
            .map(|(name, _)| PossibleValue::new(*name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mirror's flag name is the library's name of the value it converts into.
    fn names_match<C: ValueEnum + Copy>(library_name: impl Fn(C) -> String) {
        for choice in C::value_variants() {
            let flag = choice.to_possible_value().expect("no value is hidden");
            assert_eq!(flag.get_name(), library_name(*choice));
        }
    }

    #[test]
    fn flag_names_are_the_library_names() {
        names_match::<MetricChoice>(|c| Metric::from(c).to_string());
        names_match::<TieChoice>(|c| TieRule::from(c).to_string());
        names_match::<ThreatChoice>(|c| Threat::from(c).to_string());
        names_match::<VotesKindChoice>(|c| Method::from(c).to_string());
        names_match::<EnsembleMethodChoice>(|c| Method::from(c).to_string());
        names_match::<HogNormChoice>(|c| BlockNorm::from(c).to_string());
        names_match::<UnitsChoice>(|c| match Units::from(c) {
            Units::Poisoning => "poisoning".into(),
            Units::Insdel => "insdel".into(),
        });
        names_match::<PaperChoice>(|c| c.name().into());
        names_match::<DatasetChoice>(|c| c.name().into());
        for (name, certification) in JOINT_CHOICES {
            match certification {
                Some(c) => assert_eq!(c.to_string(), *name),
                None => assert_eq!(*name, "none"),
            }
        }
    }

    #[test]
    fn every_library_value_has_a_flag() {
        // A library variant added without its flag value fails here.
        for t in Threat::ALL {
            assert!(
                ThreatChoice::value_variants()
                    .iter()
                    .any(|&c| Threat::from(c) == t)
            );
        }
        for name in ["l1", "l2", "linf", "ip", "cosine"] {
            let m: Metric = name.parse().unwrap();
            assert!(
                MetricChoice::value_variants()
                    .iter()
                    .any(|&c| Metric::from(c) == m)
            );
        }
        // Every joint certification has a `--joint` value (`individual` is always computed).
        for c in Certification::ALL {
            assert!(
                c == Certification::Individual || JOINT_CHOICES.iter().any(|(_, j)| *j == Some(c)),
                "--joint has no value for {c}"
            );
        }
    }
}
