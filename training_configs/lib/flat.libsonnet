// FLAT (Chen & Ji 2022) on any single-sequence task config of classification.libsonnet: the same
// classifier with variational word masks, trained on each batch and its synonym-substituted
// adversarial version by L_pred + γ·L_imp (see the flat_classifier docstring).
function(task, entropy_weight=0.1, importance_weight=0.001, substitution_rate=0.25, temperature=0.5)
  task {
    model+: {
      type: 'flat_classifier',
      entropy_weight: entropy_weight,
      importance_weight: importance_weight,
      substitution_rate: substitution_rate,
      temperature: temperature,
      perturbation:: null,
      adversarial_weight:: null,
    },
  }
