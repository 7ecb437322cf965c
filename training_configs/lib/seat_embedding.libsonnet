// SEAT as its authors' released code trains it (kaustpradalab/SEAT, `--method ours`), on top of any
// single-sequence task config of classification.libsonnet: the whole model from scratch, with the
// task loss on x and on x + δ* (δ*: L∞ PGD on the word embeddings) and the top-k term between the
// two attentions. Not the paper's Eq. 6 (seat.libsonnet). Defaults: the authors' SST command
// (R = 0.01, 10 steps, λ1 = 1, k = 7, λ2 = 1000); the optimiser stays the task's.
function(task, radius=0.01, pgd_steps=10, adversarial_weight=1.0, top_k=7, top_k_weight=1000.0, clip_to_unit_interval=false)
  task {
    model+: {
      type: 'seat_embedding_classifier',
      radius: radius,
      pgd_steps: pgd_steps,
      adversarial_weight: adversarial_weight,
      top_k: top_k,
      top_k_weight: top_k_weight,
      clip_to_unit_interval: clip_to_unit_interval,
      perturbation:: null,
    },
  }
