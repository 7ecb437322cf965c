// SEAT (Hu et al. 2023) on top of any single-sequence task config of classification.libsonnet:
// the same architecture and data, the vanilla archive's weights copied in, only the attention
// scorer trained by Eq. 6. The data must be the vanilla model's (its vocabulary is checked).
// Defaults: the authors' SST command (k = 7, R = 0.001 in L∞, 10 PGD steps, λ1 = 1, λ2 = 1000).
function(task, vanilla_archive, top_k=7, radius=0.001, pgd_norm='linf', pgd_steps=10, stability_weight=1.0, top_k_weight=1000.0)
  task {
    model+: {
      type: 'seat_classifier',
      vanilla_archive: vanilla_archive,
      top_k: top_k,
      radius: radius,
      pgd_norm: pgd_norm,
      pgd_steps: pgd_steps,
      stability_weight: stability_weight,
      top_k_weight: top_k_weight,
      perturbation:: null,
      adversarial_weight:: null,
      // The vanilla archive's weights replace the initial ones: no need to read the vectors.
      text_field_embedder+: { token_embedders+: { tokens+: { pretrained_file: null } } },
    },
  }
