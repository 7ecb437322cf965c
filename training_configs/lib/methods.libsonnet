// The six training methods of the paper as `model.perturbation` blocks.
// ε defaults: the paper's 5 (Word AT) and 15 (Word iAT); 1.0 for the attention methods until an
// ε search picks better values. Override with e.g. --overrides '{"model.perturbation.epsilon": 3}'.
// Word iAT searches its neighbour words once, as Sato et al.'s code; neighbour_refresh: N searches
// again after N calls (one per step and text).
{
  vanilla: { type: 'none' },
  word_at: { type: 'word_adversarial', epsilon: 5.0 },
  word_iat: { type: 'word_interpretable', epsilon: 15.0, num_neighbours: 15, neighbour_refresh: null },
  attention_rp: { type: 'attention_random', epsilon: 1.0 },
  attention_at: { type: 'attention_adversarial', epsilon: 1.0 },
  attention_iat: { type: 'attention_interpretable', epsilon: 1.0, normalization: 'sentence' },
  // Methods whose ε is calibrated for standardised embeddings (Miyato et al.'s normalisation, which
  // belongs to Word AT/iAT); the others train on the raw vectors, as Jain & Wallace and the paper.
  // A config can override this with `normalize_embeddings`.
  standardised_embeddings:: ['word_at', 'word_iat'],
}
