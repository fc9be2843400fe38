# Reference values for backwalk_study.workflows.evidence.pool_published and trial_effect_sizes (issue 15),
# which call stats.meta.meta_analysis and stats.effect_sizes on the evidence table's rows.
#
# Run from this folder:   cd tests/reference && Rscript evidence_pool.R
#
# Inputs are PUBLISHED estimates with their 95% CIs, copied from
# data/evidence/backward_walking.csv (ids below; tests/test_claims_evidence.py
# checks that they agree with the table). Each SE is the CI's width / (2 z):
#   metafor::rma(yi, sei = (ub - lb) / (2 * qnorm(0.975)), method = "DL" | "PM" | "REML",
#                control = list(tol = 1e-12))
#   metafor::rma(yi, sei = ..., method = "FE")
# Writes evidence_pool_inputs.csv and evidence_pool_metafor.csv
# (set, method, statistic, value), values with 17 significant digits.

suppressPackageStartupMessages(library(metafor))
options(warn = 1)

inputs <- rbind(
  # backward vs forward walking training, walking speed (m/s): children with CP, adults after stroke
  data.frame(set = "speed_vs_forward", id = c("menezes2023_speed_vs_forward", "stroke_bw_vs_fw2024_speed"),
             yi = c(0.10, 0.16), lb = c(0.05, 0.06), ub = c(0.16, 0.27)),
  # backward walking added to forward walking, walking speed (m/s): the two conditions disagree
  data.frame(set = "speed_added", id = c("menezes2023_speed_added", "stroke_bw_added2024_speed"),
             yi = c(0.20, 0.03), lb = c(0.07, 0.01), ub = c(0.34, 0.04)),
  # numerical check only (these stroke reviews overlap; not a meaningful pooled estimate)
  data.frame(set = "cadence_overlapping", id = c("wen2022_cadence", "stroke_bw_added2024_cadence", "correia2023_cadence"),
             yi = c(4.00, 5, 3), lb = c(0.99, 1, -2), ub = c(7.02, 10, 6))
)
write.csv(inputs, "evidence_pool_inputs.csv", row.names = FALSE)

out <- list()
put <- function(set, method, statistic, value) {
  out[[length(out) + 1L]] <<- data.frame(set = set, method = method, statistic = statistic,
                                         value = sprintf("%.17g", as.numeric(value)))
}
for (s in unique(inputs$set)) {
  d <- inputs[inputs$set == s, ]
  sei <- (d$ub - d$lb) / (2 * qnorm(0.975))
  for (m in c("FE", "DL", "PM", "REML")) {
    # PM's root is found to metafor's default tolerance (1e-5) unless asked for more
    fit <- rma(yi = d$yi, sei = sei, method = m, control = list(tol = 1e-12))
    put(s, m, "estimate", fit$beta[1])
    put(s, m, "se", fit$se)
    put(s, m, "ci_low", fit$ci.lb)
    put(s, m, "ci_high", fit$ci.ub)
    put(s, m, "q", fit$QE)
    put(s, m, "p_val", fit$QEp)
    put(s, m, "tau2", fit$tau2)
    put(s, m, "i2", fit$I2 / 100)
  }
}
write.csv(do.call(rbind, out), "evidence_pool_metafor.csv", row.names = FALSE)

# Effect sizes from arm summaries (Yang et al. 2005, change scores, as printed):
#   metafor::escalc("MD" | "SMD", m1i, sd1i, n1i, m2i, sd2i, n2i)
yang <- data.frame(id = c("yang2005_walking_speed", "yang2005_stride_length"),
                   m1 = c(8.60, 0.090), sd1 = c(6.95, 0.076), n1 = 13,
                   m2 = c(3.65, -0.0064), sd2 = c(2.92, 0.078), n2 = 12)
es <- list()
for (measure in c("MD", "SMD")) {
  e <- escalc(measure, m1i = yang$m1, sd1i = yang$sd1, n1i = yang$n1, m2i = yang$m2, sd2i = yang$sd2, n2i = yang$n2)
  es[[measure]] <- data.frame(id = yang$id, measure = measure, yi = sprintf("%.17g", e$yi), vi = sprintf("%.17g", e$vi))
}
write.csv(do.call(rbind, es), "evidence_pool_escalc.csv", row.names = FALSE)
