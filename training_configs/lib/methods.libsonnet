// The one registry of the training methods, in the order every table lists them. `name` is the
// method's name in configs, commands and records; `title` and `family` are what Table 2, the
// robustness table, the step-time benchmark and the sweeps read (attention_perturb/experiments/
// methods.py). `perturbation` is the model's `perturbation` block in the task configs
// (classification and pair); the neighbouring methods (SEAT, FLAT, BAT) train through their own
// libsonnet and have none. A new method is a registered class and an entry here
// (docs/adding_a_method.md).
// ε defaults: the paper's 5 (Word AT) and 15 (Word iAT); 1.0 for the attention methods until an
// ε search picks better values. Override with e.g. --overrides '{"model.perturbation.epsilon": 3}'.
// Word iAT searches its neighbour words once, as Sato et al.'s code; neighbour_refresh: N searches
// again after N calls (one per step and text).
local registry = [
  { name: 'vanilla', title: 'Vanilla', family: 'baseline', perturbation: { type: 'none' } },
  { name: 'word_at', title: 'Word AT', family: 'word', perturbation: { type: 'word_adversarial', epsilon: 5.0 } },
  {
    name: 'word_iat',
    title: 'Word iAT',
    family: 'word',
    perturbation: { type: 'word_interpretable', epsilon: 15.0, num_neighbours: 15, neighbour_refresh: null },
  },
  { name: 'attention_rp', title: 'Attention RP', family: 'attention', perturbation: { type: 'attention_random', epsilon: 1.0 } },
  { name: 'attention_at', title: 'Attention AT', family: 'attention', perturbation: { type: 'attention_adversarial', epsilon: 1.0 } },
  {
    name: 'attention_iat',
    title: 'Attention iAT',
    family: 'attention',
    perturbation: { type: 'attention_interpretable', epsilon: 1.0, normalization: 'sentence' },
  },
  { name: 'seat', title: 'SEAT', family: 'neighbour' },
  { name: 'flat', title: 'FLAT', family: 'neighbour' },
  { name: 'bat', title: 'BAT', family: 'neighbour' },
];
{
  registry: registry,
  // The model's perturbation block of a method trained by perturbation.
  perturbation(method):: { [entry.name]: entry for entry in registry }[method].perturbation,
  // Methods whose ε is calibrated for standardised embeddings (Miyato et al.'s normalisation, which
  // belongs to Word AT/iAT); the others train on the raw vectors, as Jain & Wallace and the paper.
  // A config can override this with `normalize_embeddings`.
  standardised_embeddings:: ['word_at', 'word_iat'],
}
