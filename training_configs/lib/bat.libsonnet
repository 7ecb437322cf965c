// BAT (balanced adversarial training) on any single-sequence task config of classification.libsonnet:
// the same classifier (and its perturbation, if any) plus BAT's contrastive term between each input and
// its random WordNet synonym (pulled closer) and antonym (pushed away) substitutions; see bat_classifier.
// BAT's settings: triplet λ = 1.0 (or 0.8), pairwise (α, β) = (1.0, 1.0) (or (1.0, 1.2)), margin 1.
function(task, variant='triplet', contrastive_weight=1.0, synonym_weight=1.0, antonym_weight=1.0, margin=1.0)
  task {
    model+: {
      type: 'bat_classifier',
      variant: variant,
      contrastive_weight: contrastive_weight,
      synonym_weight: synonym_weight,
      antonym_weight: antonym_weight,
      margin: margin,
    },
  }
