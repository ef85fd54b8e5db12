"""Help: the method in plain words, what each filter does, what predictions can tell, references."""

from __future__ import annotations

import streamlit as st

from superdiff_core.model_classes import REGISTRY
from superdiff_core.sampler import DEFAULT_CONDITIONING_STOP

STEPS_TEXT = ", ".join(f"{spec.recommended_steps} for {name}" for name, spec in REGISTRY.items())

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
balance), **scored** (is it likely a superconductor, what Tc, is it likely stable) and **placed on a map**
of the known families, where groups of candidates far from any known family are the interesting part.
"""
)

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

**Steps** trade speed for quality: time grows in proportion to the steps, and with too few steps most
samples fail the basic filters. Each class starts at the fewest steps that keep the quality of 1,000
steps ({STEPS_TEXT}; others and everything contain alloys written per 100 atoms).
**Samples per N** is how many candidates are drawn for each N and each
reference, before screening. The **seed** makes a run repeatable. Under *Advanced*, the reference
steers the sampling down to timestep {DEFAULT_CONDITIONING_STOP} by default: the last steps run free and tidy
up amounts that the blur smeared onto neighbouring elements (the paper steered every step; set 0 for that).
"""
)

st.header("The screening funnel")
st.markdown(
    """
Each stage keeps what passes; the funnel shows how many are left after each.

| stage | what it does |
|---|---|
| raw samples | everything the model drew |
| basic filters | amounts are rounded to 0.01 and amounts below the **residual threshold** (0.08) are set to zero, as leftover noise; a candidate with a negative amount is rejected, and so is one with fewer than 2 or more than 7 (cuprates, everything) or 5 (pnictides, others) elements |
| unique | duplicates removed |
| novel | compositions already in SuperCon's training set of that class removed |
| SMACT-valid | the charges can balance: each element gets one of its usual oxidation states so that the total is zero, and the more electronegative elements carry the negative charges (Pauling test). Alloys (all metals) pass. Amounts are first turned into a whole-number ratio, so La₁.₈₅Sr₀.₁₅CuO₄ is checked as La₃₇Sr₃Cu₂₀O₈₀: most doped compounds then fail, as in the paper. The **mixed-valence** option lets one element split between two of its states (Cu²⁺/Cu³⁺), which is what doping does |
| predicted superconductor | the classifier says "superconductor" |
| Tc > threshold | predicted Tc above your threshold (default 5 K) |
| formation energy < threshold | predicted formation energy below your threshold (default 0 eV/atom) |

The last two stages follow Wines, Xie & Choudhary (2023). A candidate without a prediction (an element
the formation model does not cover) fails a threshold: it is never silently guessed.
"""
)

st.header("What the predictions can and cannot tell")
st.markdown(
    """
- **Superconductor or not** comes from a nearest-neighbour classifier: a candidate is called a
  superconductor when its closest known compositions are. It is good at recognising the known families
  and knows nothing else: an entirely new chemistry gets a guess from whatever it resembles. On held-out
  data it finds most true superconductors but also calls a fair share of non-superconductors
  superconducting (see the Models page for the rates).
- **Predicted Tc** is learned from SuperCon's measured values. It is an interpolation among known
  compounds: trust trends within a family (Tc against doping) more than single numbers, and expect no
  prediction far above the highest Tc of similar known compounds.
- **Formation energy** (eV per atom, from an ElemNet-style network trained on OQMD) says whether the
  composition is likely more stable than its elements: negative is good. It knows no crystal
  structure, so it cannot tell whether a particular phase forms, and it says nothing about competing
  phases.
- **SMACT-valid** means the charges *can* balance, not that the compound exists.
- **The map** (t-SNE) places compounds with similar element fractions close together. Distances between
  far-apart groups mean little; clusters and neighbours are what it shows. A **new family** is a group of
  at least three candidates outside every known cluster, written as a general formula such as
  La₂₋ₓSrₓCuO₄ with the range of x. *Outside* means farther (in atomic fractions) from every SuperCon
  compound than 99 % of SuperCon compounds are from their nearest neighbour (for cuprates 0.095; for
  the sparse "others" the distance is capped so that random compositions stay out).
- **What ILVR keeps**: the reference's profile along the periodic table (elements in order of Z), blurred
  over N neighbouring elements, not its exact elements. A reference with an element the model rarely saw
  often comes back as the common neighbour (K → Ca in a cuprate), so most candidates land in known
  families even for a new reference; small N stays closest to it.

None of this replaces a synthesis or a DFT calculation: the app ranks ideas worth a closer look.
"""
)

st.header("Using the results")
st.markdown(
    """
- Results stay while you move between pages; a new run on the same page replaces them.
- **Select points** on the map (click, box or lasso) to filter the candidate table; double-click clears.
- The **CSV** has the same columns as `superdiff generate --out`. The **run settings (JSON)** repeat a run
  exactly: load the file under "Repeat a run" on the Generate page, or use the command line it contains.
- The **element heat map** shows which elements go with Tc above a threshold, for your candidates or for
  SuperCon.
"""
)

st.header("References")
st.markdown(
    """
1. S. Yuan and S. V. Dordevic, *Diffusion models for conditional generation of hypothetical new families of
   superconductors*, Sci. Rep. **14**, 10275 (2024). The method this app implements.
2. J. Choi, S. Kim, Y. Jeong, Y. Gwon and S. Yoon, *ILVR: Conditioning Method for Denoising Diffusion
   Probabilistic Models*, ICCV 2021.
3. J. Ho, A. Jain and P. Abbeel, *Denoising Diffusion Probabilistic Models*, NeurIPS 2020.
4. B. Roter and S. V. Dordevic, *Predicting new superconductors and their critical temperatures using
   machine learning*, Physica C **575**, 1353689 (2020). Classifier and Tc regression.
5. B. Roter, N. Ninkovic and S. V. Dordevic, *Clustering superconductors using unsupervised machine learning*,
   Physica C **598**, 1354078 (2022). t-SNE maps and clustering of SuperCon.
6. D. Jha, L. Ward, A. Paul, W. Liao, A. Choudhary, C. Wolverton and A. Agrawal, *ElemNet: Deep Learning the
   Chemistry of Materials From Only Elemental Composition*, Sci. Rep. **8**, 17593 (2018). Formation energy.
7. D. Wines, T. Xie and K. Choudhary, *Inverse Design of Next-Generation Superconductors Using Data-Driven
   Deep Generative Models*, J. Phys. Chem. Lett. **14**, 6630 (2023). Screening funnel and element heat map.
8. D. W. Davies, K. T. Butler, A. J. Jackson, J. M. Skelton, K. Morita and A. Walsh, *SMACT: Semiconducting
   Materials by Analogy and Chemical Theory*, J. Open Source Softw. **4**, 1361 (2019). Charge-neutrality
   and electronegativity checks.
9. P. G. Poličar, M. Stražar and B. Zupan, *openTSNE: A Modular Python Library for t-SNE Dimensionality
   Reduction and Embedding*, J. Stat. Softw. **109** (3), 1–30 (2024). The maps.

Data: SuperCon (National Institute for Materials Science, Japan) as distributed with the SuperDiff code;
OQMD formation energies for the formation model.
"""
)
