# Reference values for backwalk_study.stats.effect_sizes and backwalk_study.stats.meta,
# computed with R's metafor (3.8) on three real data sets that ship with it:
#   dat.normand1999  length of hospital stay, specialist vs routine stroke care (mean differences, "MD")
#   dat.gibson2002   asthma self-management education, rows with means and SDs (standardised mean
#                    differences, "SMD" = Hedges' g with the exact correction)
#   dat.bcg          BCG vaccine trials (log risk ratios "RR"; also "OR" and "RD" for the effect sizes)
# and two SYNTHETIC boundary cases typed in below (meta_data_synthetic.csv).
# Run from this folder: Rscript meta.R   (writes meta_*.csv here, nothing else)
#
# metafor's default convergence settings stop the iterations for REML at a change in tau2
# below 1e-5 and solve PM and the Q-profile CI with uniroot(tol = .Machine$double.eps^0.25),
# about 1e-4; the reference values are therefore computed with tight settings
# (control = list(threshold = 1e-12, tol = 1e-12)) and the Q-profile CI is also written with
# metafor's default settings (columns *_default), which the tests compare at 1e-4.
suppressMessages(library(metafor))
options(digits = 15)

tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
write <- function(x, file) write.csv(x, file, row.names = FALSE, quote = TRUE)

# ---- the data, as the tests read them ----------------------------------------------------
normand <- dat.normand1999
gibson <- dat.gibson2002[!is.na(dat.gibson2002$m1i), c("author", "year", "n1i", "m1i", "sd1i", "n2i", "m2i", "sd2i")]
gibson$study <- paste(gibson$author, gibson$year)
bcg <- dat.bcg
bcg$study <- paste(bcg$author, bcg$year)
write(normand, "meta_data_normand1999.csv")
write(gibson, "meta_data_gibson2002.csv")
write(bcg[, c("trial", "study", "tpos", "tneg", "cpos", "cneg", "ablat", "year", "alloc")], "meta_data_bcg.csv")

# ---- effect sizes: escalc ----------------------------------------------------------------
es <- rbind(
  # escalc(measure = "MD", m1i, sd1i, n1i, m2i, sd2i, n2i, data = dat.normand1999)
  data.frame(data = "normand1999", measure = "MD", row = seq_len(nrow(normand)),
             as.data.frame(escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
                                  n2i = n2i, data = normand))[, c("yi", "vi")]),
  # escalc(measure = "SMD", ...) on dat.normand1999 and on dat.gibson2002
  data.frame(data = "normand1999", measure = "SMD", row = seq_len(nrow(normand)),
             as.data.frame(escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
                                  n2i = n2i, data = normand))[, c("yi", "vi")]),
  data.frame(data = "gibson2002", measure = "SMD", row = seq_len(nrow(gibson)),
             as.data.frame(escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
                                  n2i = n2i, data = gibson))[, c("yi", "vi")]),
  # escalc(measure = "RR" / "OR" / "RD", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
  do.call(rbind, lapply(c("RR", "OR", "RD"), function(m)
    data.frame(data = "bcg", measure = m, row = seq_len(nrow(bcg)),
               as.data.frame(escalc(m, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg))[, c("yi", "vi")]))),
  # a table with zero cells (1/2 added to the cells of those studies only, to = "only0")
  data.frame(data = "zero_cells", measure = "RR", row = 1:3,
             as.data.frame(escalc("RR", ai = c(0, 3, 5), n1i = c(10, 12, 20), ci = c(3, 0, 4),
                                  n2i = c(10, 11, 20)))[, c("yi", "vi")]),
  data.frame(data = "zero_cells", measure = "OR", row = 1:3,
             as.data.frame(escalc("OR", ai = c(0, 3, 5), n1i = c(10, 12, 20), ci = c(3, 0, 4),
                                  n2i = c(10, 11, 20)))[, c("yi", "vi")]),
  # SMD from t: escalc("SMD", ti = 2.1, n1i = 20, n2i = 22)
  data.frame(data = "from_t", measure = "SMD", row = 1:2,
             as.data.frame(escalc("SMD", ti = c(2.1, -1.3), n1i = c(20, 15), n2i = c(22, 16)))[, c("yi", "vi")])
)
write(es, "meta_escalc.csv")

# SYNTHETIC boundary cases, typed in: estimates closer together than their SEs allow (tau2 = 0 and
# a Q-profile CI of [0, 0] or [0, x]) and three very different studies
synthetic <- rbind(
  data.frame(set = "synthetic_homogeneous", study = paste("S", 1:5), yi = c(0.10, 0.12, 0.09, 0.11, 0.10),
             vi = c(0.010, 0.040, 0.0225, 0.010, 0.030)),
  data.frame(set = "synthetic_three", study = paste("S", 1:3), yi = c(-0.5, 0.4, 1.6), vi = c(0.04, 0.09, 0.02)))
write(synthetic, "meta_data_synthetic.csv")

sets <- list(
  normand1999 = escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = normand),
  gibson2002 = escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = gibson),
  bcg = escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg),
  synthetic_homogeneous = synthetic[synthetic$set == "synthetic_homogeneous", ],
  synthetic_three = synthetic[synthetic$set == "synthetic_three", ]
)

# ---- pooled results: rma, confint, predict -----------------------------------------------
rows <- list()
for (name in names(sets)) {
  d <- sets[[name]]
  for (method in c("REML", "DL", "PM", "FE")) {
    for (test in if (method == "FE") "z" else c("z", "knha")) {
      # rma(yi, vi, data = d, method = method, test = test, control = tight)
      fit <- rma(yi, vi, data = d, method = method, test = test, control = tight)
      pred <- predict(fit)                                   # predict(fit): the prediction interval
      row <- data.frame(data = name, method = method, test = test, k = fit$k,
                        estimate = fit$b[1], se = fit$se, t = fit$zval, p_val = fit$pval,
                        ci_low = fit$ci.lb, ci_high = fit$ci.ub,
                        pi_low = if (method == "FE") pred$ci.lb else pred$pi.lb,
                        pi_high = if (method == "FE") pred$ci.ub else pred$pi.ub,
                        tau2 = fit$tau2, i2 = fit$I2, h2 = fit$H2, q = fit$QE, q_p_val = fit$QEp,
                        weight_first = weights(fit)[1], weight_last = weights(fit)[fit$k])
      if (method != "FE") {
        ci <- confint(fit, control = list(tol = 1e-12, tau2.max = 1e6))$random   # confint(fit), tight
        ci0 <- confint(fit)$random                                                # confint(fit), defaults
        row <- cbind(row, data.frame(
          tau2_ci_low = ci["tau^2", "ci.lb"], tau2_ci_high = ci["tau^2", "ci.ub"],
          i2_ci_low = ci["I^2(%)", "ci.lb"], i2_ci_high = ci["I^2(%)", "ci.ub"],
          h2_ci_low = ci["H^2", "ci.lb"], h2_ci_high = ci["H^2", "ci.ub"],
          tau2_ci_low_default = ci0["tau^2", "ci.lb"], tau2_ci_high_default = ci0["tau^2", "ci.ub"]))
      } else {
        row <- cbind(row, data.frame(tau2_ci_low = NA, tau2_ci_high = NA, i2_ci_low = NA, i2_ci_high = NA,
                                     h2_ci_low = NA, h2_ci_high = NA, tau2_ci_low_default = NA,
                                     tau2_ci_high_default = NA))
      }
      rows[[length(rows) + 1]] <- row
    }
  }
}
write(do.call(rbind, rows), "meta_pooled.csv")

# ---- Egger's test: regtest(fit, model = "lm") and regtest(fit) (model = "rma") ------------
rows <- list()
for (name in names(sets)) {
  for (method in c("REML", "DL")) {
    fit <- rma(yi, vi, data = sets[[name]], method = method, control = tight)
    for (model in c("lm", "rma")) {
      rt <- regtest(fit, model = model)                       # regtest(fit, model = model)
      rows[[length(rows) + 1]] <- data.frame(data = name, method = method, model = model,
                                             estimate = coef(rt$fit)[[2]],
                                             se = if (model == "lm") summary(rt$fit)$coefficients[2, 2] else rt$fit$se[2],
                                             t = rt$zval, p_val = rt$pval,
                                             dof = if (is.null(rt$dfs)) Inf else rt$dfs,
                                             limit_estimate = rt$est, limit_ci_low = rt$ci.lb,
                                             limit_ci_high = rt$ci.ub)
    }
  }
}
write(do.call(rbind, rows), "meta_egger.csv")

# ---- leave-one-out: leave1out(rma(yi, vi, data = d)) --------------------------------------
rows <- list()
for (name in names(sets)) {
  for (test in c("z", "knha")) {
    fit <- rma(yi, vi, data = sets[[name]], test = test, control = tight)
    l1o <- as.data.frame(leave1out(fit))                    # leave1out(fit), refits with fit's control
    if (is.null(l1o$zval)) l1o$zval <- l1o$tval
    rows[[length(rows) + 1]] <- data.frame(data = name, test = test, omitted = seq_len(nrow(l1o)),
                                           estimate = l1o$estimate, se = l1o$se, t = l1o$zval,
                                           p_val = l1o$pval, ci_low = l1o$ci.lb, ci_high = l1o$ci.ub,
                                           q = l1o$Q, q_p_val = l1o$Qp, tau2 = l1o$tau2, i2 = l1o$I2,
                                           h2 = l1o$H2)
  }
}
write(do.call(rbind, rows), "meta_leave1out.csv")

# ---- meta-regression: rma(yi, vi, mods = ~ ablat + year, data = dat.bcg) ------------------
coefs <- list(); fits <- list()
for (method in c("REML", "DL", "PM", "FE")) {
  for (test in if (method == "FE") "z" else c("z", "knha")) {
    for (mods in c("ablat + year", "ablat", "alloc")) {
      fit <- rma(yi, vi, mods = as.formula(paste("~", mods)), data = sets$bcg, method = method,
                 test = test, control = tight)
      coefs[[length(coefs) + 1]] <- data.frame(method = method, test = test, mods = mods,
                                               term = rownames(fit$b), estimate = fit$b[, 1], se = fit$se,
                                               t = fit$zval, p_val = fit$pval, ci_low = fit$ci.lb,
                                               ci_high = fit$ci.ub)
      fits[[length(fits) + 1]] <- data.frame(method = method, test = test, mods = mods, tau2 = fit$tau2,
                                             i2 = if (is.null(fit$I2)) NA else fit$I2,
                                             h2 = if (is.null(fit$H2)) NA else fit$H2,
                                             r2 = if (is.null(fit$R2)) NA else fit$R2,
                                             qm = fit$QM, qm_p_val = fit$QMp, qe = fit$QE, qe_p_val = fit$QEp)
    }
  }
}
write(do.call(rbind, coefs), "meta_regression_coefficients.csv")
write(do.call(rbind, fits), "meta_regression_fit.csv")

# ---- subgroups: rma per level of dat.bcg$alloc, then the test for subgroup differences ----
# as rma(yi = estimates, sei = ses, method = "FE")$QE on the subgroup estimates
rows <- list()
for (test in c("z", "knha")) {
  sub <- lapply(sort(unique(sets$bcg$alloc)), function(a)
    rma(yi, vi, data = sets$bcg, subset = alloc == a, test = test, control = tight))
  est <- sapply(sub, function(f) f$b[1]); ses <- sapply(sub, function(f) f$se)
  between <- rma(yi = est, sei = ses, method = "FE")
  rows[[length(rows) + 1]] <- data.frame(test = test, alloc = sort(unique(sets$bcg$alloc)),
                                         k = sapply(sub, function(f) f$k), estimate = est, se = ses,
                                         ci_low = sapply(sub, function(f) f$ci.lb),
                                         ci_high = sapply(sub, function(f) f$ci.ub),
                                         tau2 = sapply(sub, function(f) f$tau2),
                                         q_between = between$QE, q_between_p_val = between$QEp)
}
write(do.call(rbind, rows), "meta_subgroups.csv")
