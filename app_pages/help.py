"""Help: the method in plain words, the shipped models (read from their cards), what each filter and column means,
what predictions can tell, references."""

from __future__ import annotations

import streamlit as st

from superdiff_core.model_classes import REGISTRY
from superdiff_core.results import COLUMN_HELP
from superdiff_core.sampler import DEFAULT_CONDITIONING_STOP
from superdiff_core.validity import DEFAULT_VALIDITY_CHECK, VALIDITY_CHECKS
from ui import model_facts, resources
from ui.results import new_family_definition

STEPS_TEXT = ", ".join(f"{spec.recommended_steps} for {name}" for name, spec in REGISTRY.items())
NEW_FAMILY = new_family_definition(from_references=True)
SUMMARIES = {summary.name: summary for summary in model_facts.model_summaries(*model_facts.shipped_cards(resources.models_dir()))}


def kind_of(name: str, missing: str = "a model that is not built yet") -> str:
    """The kind of the shipped model ``name`` as its card describes it."""
    return SUMMARIES[name].kind if name in SUMMARIES else missing


st.title("Help")

st.header("What SuperDiff does")
st.markdown(
    """
SuperDiff proposes **new compositions** that might be superconductors. A *diffusion model* has learned
what the 16,708 known superconductors in SuperCon look like, written as amounts of each element
(YBa₂Cu₃O₇ is Y 1, Ba 2, Cu 3, O 7). It starts from random numbers and removes "noise" step by step until
a composition appears. There is one model per class: cuprates, pnictides (iron-based), others, and one
trained on everything.

The candidates are then **screened** (are they sensible compositions, are they new, can the charges
balance), **scored** (is it likely a superconductor, what Tc, is it likely stable), set beside the
**nearest known compounds**, and **placed on a map** of the known families, where groups of candidates far
from any known family are the interesting part.
"""
)

st.header("The models, and how far to trust them")
st.markdown(
    "Every model ships under `checkpoints/` with a model card (`card.json`); this table is read from those cards, "
    "and the Models page shows them whole."
)
if SUMMARIES:
    st.table(
        [{"model": s.name, "what it is": s.kind, "how far to trust a number from it": s.trust} for s in SUMMARIES.values()],
        border="horizontal", hide_index=True,
    )
else:
    st.info("No model card found under the models folder: the models are not built yet.")

st.header("The reference and the scale factor N (ILVR)")
st.markdown(
    f"""
On the Generate page you give a **reference**, a compound you know. At every denoising step the model's
draft is nudged so that a *blurred* copy of it matches a blurred copy of the reference (Iterative Latent
Variable Refinement, Choi et al. 2021). No retraining is needed.

**N sets how blurred.** The 96 element amounts are shrunk N times and blown up again:

- **N = 1 or 2**: little blur, the candidates stay very close to the reference (mostly doping variants);
- **N = 3 or 4**: more freedom, neighbouring elements of the periodic table can swap in;
- **N > 4**: so much freedom that, as the paper found, many results have negative amounts and are
  rejected. The paper used N = 2, 3 and 4, the default range here.

The blur runs along the list of elements ordered by atomic number Z, so what N keeps is how much of the
composition sits in each *stretch of neighbouring Z*: Co or Mn can take the place of Fe (Z = 27, 25, 26)
far more easily than an element far away in the table.

**Which new elements may come in.** Atomic-number neighbours are not chemical ones: left alone, the blur
brings arsenic and bromine next to selenium, gold next to mercury, nitrogen next to oxygen. By default a
candidate may therefore add only elements that plausibly substitute for one of the reference's, by the
data-mined ion-substitution probabilities of Hautier et al. (2011): Sr, La or Rb into a cuprate, Co into
BaFe₂As₂, C into MgB₂. Measured on nine references, this cut the implausible additions from 97 % to 1 % on
the paper's example (an independent table: 66 → 27 %) and from 41 % to 8 % on HgBa₂Ca₂Cu₃O₈.₂₇, with more
samples passing the filters. Turn **New elements: plausible substitutes only** off to get the paper's own
behaviour and families (its As and Br families of YBa₁.₄Sr₀.₆Cu₃O₆Se₀.₅₁).

**Steps** trade speed for quality: time grows in proportion to the steps, and with too few steps most
samples fail the basic filters. Each class starts at the fewest steps that keep the quality of 1,000
steps ({STEPS_TEXT}; others and everything contain alloys written per 100 atoms).
Where the CPU runs bfloat16 natively (AVX-512 BF16 or AMX), the network runs in it: 1.3–1.4× faster with
the same candidates' quality (measured on four references and the four classes); elsewhere it runs in float32.
**Samples per N** is how many candidates are drawn for each N and each
reference, before screening. The **seed** makes a run repeatable. Under *Advanced*, the reference
steers the sampling down to timestep {DEFAULT_CONDITIONING_STOP} by default: the last steps run free and tidy
up amounts that the blur smeared onto neighbouring elements (the paper steered every step; set 0 for that).
"""
)

st.header("Steering toward higher Tc or stability (guidance)")
st.markdown(
    f"""
Under *Advanced: steer toward higher Tc or stability* on the Generate page (`--guide tc=1,formation=0.5` on the
command line), three sliders push every denoising step along the gradient of a property model: toward a higher
predicted Tc, toward "superconducting", toward a lower (more negative) formation energy. 0 is off; 1 is the
strength measured as a moderate push. The push comes from {kind_of("Guidance network", "a guidance network")}
and the formation model, which can be differentiated; the table still scores every candidate with the
classifier and Tc regressor above, which never steer, so a candidate that merely fools the guide does not score
higher there. Steering cannot promise a higher *real* Tc: it moves candidates toward what the models believe,
and strong settings lower the share of valid candidates and pull them away from the reference. A guided run
writes its weights in the `guidance` column and its file name, and turns ILVR's resampling of the last steps off
by default (resampling pulls candidates back onto the reference's profile).
"""
)

st.header("The screening funnel")
st.markdown(
    """
Each stage keeps what passes; the funnel shows how many are left after each.

| stage | what it does |
|---|---|
| raw samples | everything the model drew |
"""
    "| basic filters | amounts are rounded to 0.01 and amounts below the **residual threshold** (0.08) are set to zero, as leftover noise; "
    "a candidate with a negative amount is rejected, and so is one with fewer than 2 or more than 7 (cuprates, everything) or 5 "
    "(pnictides, others) elements |\n"
    """| unique | duplicates removed |
| novel | compositions already in SuperCon's training set of that class removed |
"""
    "| valid (*check*) | the charges can balance by the run's **validity check** (Advanced options; `--validity` on the command line), "
    "named in the funnel's label: each element gets an oxidation state so that the total is (about) zero, and the more electronegative "
    "elements carry the negative charges (Pauling test). The checks are compared below; the chosen one's verdict is `smact_valid`, and "
    "each check's own verdict has its own column |\n"
    """| predicted superconductor | the classifier says "superconductor" |
| Tc > threshold | predicted Tc above your threshold (default 5 K) |
| formation energy < threshold | predicted formation energy below your threshold (default 0 eV/atom) |

The last two stages follow Wines, Xie & Choudhary (2023). A candidate without a prediction (an element
the formation model does not cover) fails a threshold: it is never silently guessed.
"""
)

st.subheader("Validity checks")
st.caption(f"The default is **{VALIDITY_CHECKS[DEFAULT_VALIDITY_CHECK].label}**; the figures are measured in benchmarks/validity.md.")
st.table([{"check": f"{check.label} (`{name}`)", "column": f"`{check.column}`", "what it accepts": check.help}
          for name, check in VALIDITY_CHECKS.items()], border="horizontal", hide_index=True)

st.header("What the predictions can and cannot tell")
st.markdown(
    f"""
- **Superconductor or not** comes from the superconductor classifier, {kind_of("Superconductor classifier")},
  trained on SuperCon's superconductors against SuperCon's Tc = 0 rows and inorganic COD compounds. It is good at
  recognising the known families and knows nothing else: an entirely new chemistry gets a guess from whatever it
  resembles. Its false alarms are frequent among doped relatives of known superconductors (see the table above).
- **Predicted Tc** comes from the Tc regressor, {kind_of("Tc regressor")}, learned from SuperCon's measured
  values. It is an interpolation among known compounds: trust trends within a family (Tc against doping) more than
  single numbers, and expect no prediction far above the highest Tc of similar known compounds. It is shown only
  where the classifier says "superconductor" (0 otherwise).
- **The Tc interval** (`tc_kelvin_low` to `tc_kelvin_high`) is a 90 % conformal interval: on held-out SuperCon
  compounds the measured Tc fell inside such intervals about 9 times in 10. It is wider where the predicted Tc is
  higher, and it says nothing about compositions unlike any known one (see *outside the training domain*).
- **Formation energy** (eV per atom, from {kind_of("Formation-energy model")}, trained on OQMD) says whether
  the composition is likely more stable than its elements: negative is good. Its spread
  (`formation_energy_std_ev_per_atom`) is calibrated: about 2 in 3 held-out compounds lie within one spread. It
  knows no crystal structure, so it cannot tell whether a particular phase forms, and it says nothing about
  competing phases.
- **Valid** (any validity check) means the charges *can* balance, not that the compound exists.
- **Nearest known compounds**: every candidate and screened formula carries the measured SuperCon compound
  closest in composition (`nearest_known_formula`, its measured Tc, and `distance_to_known`, the Euclidean
  distance between atomic fractions), and how many known compounds are *close* (`known_close_count`: within the
  map's tight-family distance, about 0.01 for cuprates, the gap between YBa₂Cu₃O₆.₉ and YBa₂Cu₃O₇) with the median
  and highest of their measured Tc. A predicted Tc far from the measured Tc of close known compounds deserves doubt.
- **Outside the training domain** (`outside_training_domain`, reason in `note`): the composition is farther from
  every known superconductor than 99 % of SuperCon compounds are from their nearest neighbour. The models were not
  trained on anything like it, so every prediction for it is an extrapolation: rank it by chemistry, not by its
  numbers.
- **The map** (t-SNE) places compounds with similar element fractions close together. Distances between
  far-apart groups mean little; clusters and neighbours are what it shows. *Outside a cluster* uses the same rule
  as the training domain (for cuprates 0.095 in atomic fractions; for the sparse "others" the distance is capped so
  that random compositions stay out).
- **A new family** (the *New families* figure and the families table on the Generate page) is
  {NEW_FAMILY}. On the Screen page, which has no reference, the same rule holds without the last condition.
  Families that fail one of these (inside a known cluster, too few valid members predicted to superconduct, more
  varying amounts than one formula writes, a reference element lost) are listed when you switch the toggle on.
- **Plausible substitution** (`plausible_substitution`, `substitution_reason`): for a candidate that adds an
  element to its reference, whether that element is a plausible substitute for a reference element, by the
  data-mined ionic substitution probabilities of Hautier et al. (2011, as pymatgen ships them); a candidate that
  swaps one whole site is judged as the element that left. The verdict is the best match's; where the amounts show
  the element took another site, the reason leads with that site (Hg₀.₆Tl₀.₄Ba₂Ca₂Cu₃O₈: "Tl in Hg's place:
  p = 0.0014 (plausible as a substitute for Ba: p = 0.016)": the table knows little of the Hg site, where Tl, Pb
  and Re are well-known substituents). The threshold separates SuperCon's own substitutions
  from random ones only weakly (AUC 0.63), so it is a flag, not a verdict. The run summary gives the share; the
  families table gives it per family; a sidebar switch keeps only plausible ones.
- **Distance above the hull** (`energy_above_hull_ev_per_atom` with its spread, `decomposes_to`): the
  predicted formation energy against the convex hull of the known OQMD phases of the same elements, and the
  phases the candidate would decompose into. It carries the formation model's error (of the held-out compounds
  it calls stable, 75 % are; 63 % for oxides of four or more elements), so it rules out (more than 2 spreads
  above the hull: left out of the funnel by default) and never crowns.
- **Can the models tell them apart?** Each run compares, per prediction, how much it varies among the
  candidates with its own error. Within one family the predicted Tc usually varies less than its interval is
  wide: the run then says its order is inside the model's error.
- **The substitution baseline** (a toggle; `--baseline substitution`): as many candidates per reference by plain
  ion substitution at the doping levels SuperCon uses, screened and scored the same way (`source` column), and a
  table comparing them with the model's. Measured on six references, plain substitution does better on some
  (BaFe₂As₂) and the model on others (more new element systems for cuprates and Nb₃Sn).
- **The shortlist**: the top candidates by a rule you weight (hull, superconductor probability, Tc, plausibility,
  distance to known compounds), each criterion as the candidate's percentile in the run, with the values behind
  its place and its flags. Substitution candidates are plausible by construction, so the plausibility weight
  favours them: set it to 0 to see what the model adds. A candidate with exactly the elements of its nearest
  known compound, and close to it, is flagged a *doping variant* of that compound (fluorinated Hg-1223 next to
  HgBa₂Ca₂Cu₃FO₈): worth making perhaps, but not a new family. The shortlist leaves them out by default; its
  switch (`--no-shortlist-new-only`) lets them compete. It also shows one row per element set (the best-scoring;
  *With these elements* counts the rest), so each row is a different substitution: the Tc model cannot tell
  doping levels of one idea apart anyway. Raise *per element set* (0: no limit) to see more of one idea.
  Candidates inside the training domain come first, since outside it every prediction that ranks them is an
  extrapolation (a switch turns this off).
- **Steering stays near the reference** by default: a guided run keeps only candidates that keep every
  reference element and stay inside the training domain, since steering otherwise raises the guide's Tc by
  leaving the reference's family (switch it off on the Generate page, `--guide-anywhere`). Measured honestly:
  kept near the reference, Tc steering did *not* raise the Tc an independent model predicts (La₁.₈₅Sr₀.₁₅CuO₄:
  27 → 16 K by a nearest-neighbour judge; BaFe₂As₂: unchanged), at 81–85 % of the unguided yield. Treat a guided
  run as a way to explore, not as a way to raise Tc.
- **What ILVR keeps**: the reference's profile along the periodic table (elements in order of Z), blurred
  over N neighbouring elements, not its exact elements. A reference with an element the model rarely saw
  often comes back as the common neighbour (K → Ca in a cuprate), so most candidates land in known
  families even for a new reference; small N stays closest to it.

None of this replaces a synthesis or a DFT calculation: the app ranks ideas worth a closer look.
"""
)

st.header("Campaigns: many references at once")
st.markdown(
    """
A **campaign** runs many references × N × seeds from the command line (`superdiff campaign run --references refs.txt
--scale-factor 2 3 4 --samples 2000 --out runs/NAME/`), on the local cores or a Ray cluster. It writes one Parquet
file per *shard* (a batch of one reference, N and seed) and a manifest, so stopping it loses at most the shards in
progress and rerunning the same command resumes. The **Campaigns** page opens its folder, also while it runs: its
progress, the same funnel as `superdiff campaign report` (a formula drawn by several shards counts once, at its first
shard), per-reference and per-N tables, families by element system, and a candidate table you can filter, sort,
export as CSV and put on the map.
"""
)

st.header("Using the results")
st.markdown(
    """
- Results stay while you move between pages; a new run on the same page replaces them.
- **Select points** on the map (click, box or lasso) to filter the candidate table; double-click clears.
- The **CSV** has the same columns as `superdiff generate --out` (each is explained below). The **run settings
  (JSON)** repeat a run exactly: load the file under "Repeat a run" on the Generate page, or use the command line it
  contains.
- The **element heat map** shows which elements go with Tc above a threshold, for your candidates or for
  SuperCon.
"""
)

st.header("The columns of the tables and CSV files")
st.caption("The same descriptions appear as the column help of the tables (hover a column header).")
st.table([{"column": f"`{name}`", "what it holds": text} for name, text in COLUMN_HELP.items()], border="horizontal", hide_index=True)

st.header("References")
st.markdown(
    """
1. S. Yuan and S. V. Dordevic, *Diffusion models for conditional generation of hypothetical new families of
   superconductors*, Sci. Rep. **14**, 10275 (2024). The method this app implements.
2. J. Choi, S. Kim, Y. Jeong, Y. Gwon and S. Yoon, *ILVR: Conditioning Method for Denoising Diffusion
   Probabilistic Models*, ICCV 2021.
3. J. Ho, A. Jain and P. Abbeel, *Denoising Diffusion Probabilistic Models*, NeurIPS 2020.
4. P. Dhariwal and A. Nichol, *Diffusion Models Beat GANs on Image Synthesis*, NeurIPS 2021. Classifier guidance
   (steering).
5. B. Roter and S. V. Dordevic, *Predicting new superconductors and their critical temperatures using
   machine learning*, Physica C **575**, 1353689 (2020). The classifier and Tc regression we compare against.
6. B. Roter, N. Ninkovic and S. V. Dordevic, *Clustering superconductors using unsupervised machine learning*,
   Physica C **598**, 1354078 (2022). t-SNE maps and clustering of SuperCon.
7. A. Y.-T. Wang, S. K. Kauwe, R. J. Murdock and T. D. Sparks, *Compositionally restricted attention-based network
   for materials property predictions*, npj Comput. Mater. **7**, 77 (2021) (CrabNet), and R. E. A. Goodall and
   A. A. Lee, *Predicting materials properties without crystal structure*, Nat. Commun. **11**, 6280 (2020)
   (Roost). The attention formation-energy model and its OQMD benchmark.
8. V. Tshitoyan et al., *Unsupervised word embeddings capture latent knowledge from materials science
   literature*, Nature **571**, 95 (2019). The mat2vec element embeddings.
9. D. Jha, L. Ward, A. Paul, W. Liao, A. Choudhary, C. Wolverton and A. Agrawal, *ElemNet: Deep Learning the
   Chemistry of Materials From Only Elemental Composition*, Sci. Rep. **8**, 17593 (2018). A formation-energy
   baseline.
10. D. Wines, T. Xie and K. Choudhary, *Inverse Design of Next-Generation Superconductors Using Data-Driven
   Deep Generative Models*, J. Phys. Chem. Lett. **14**, 6630 (2023). Screening funnel and element heat map.
11. D. W. Davies, K. T. Butler, A. J. Jackson, J. M. Skelton, K. Morita and A. Walsh, *SMACT: Semiconducting
   Materials by Analogy and Chemical Theory*, J. Open Source Softw. **4**, 1361 (2019). Charge-neutrality
   and electronegativity checks.
12. P. G. Poličar, M. Stražar and B. Zupan, *openTSNE: A Modular Python Library for t-SNE Dimensionality
   Reduction and Embedding*, J. Stat. Softw. **109** (3), 1–30 (2024). The maps.

Data: SuperCon (National Institute for Materials Science, Japan) as distributed with the SuperDiff code;
OQMD formation energies as split by CrabNet; COD formulas as non-superconductors.
"""
)
