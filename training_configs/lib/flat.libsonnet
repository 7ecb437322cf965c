// FLAT (Chen & Ji 2022) on any single-sequence task config of classification.libsonnet: the same
// classifier with variational word masks, trained on each batch and its synonym-substituted
// adversarial version by L_pred + γ·L_imp (see the flat_classifier docstring).
// Word masks as the authors' code samples them: binary (straight-through), τ = 1, inference network of 400.
// word_masks=false is FLAT's "-adv" baseline: no masks, L(x) + L(x') on the same x' (its Eq. 5).
function(task, entropy_weight=0.1, importance_weight=0.001, substitution_rate=0.25, temperature=1.0,
         hard_masks=true, mask_hidden_dim=400, word_masks=true)
  task {
    model+: {
      type: 'flat_classifier',
      entropy_weight: entropy_weight,
      importance_weight: importance_weight,
      substitution_rate: substitution_rate,
      temperature: temperature,
      hard_masks: hard_masks,
      mask_hidden_dim: mask_hidden_dim,
      word_masks: word_masks,
      perturbation:: null,
      adversarial_weight:: null,
    },
  }
