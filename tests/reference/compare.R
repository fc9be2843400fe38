# Reference values for backwalk_study.compare (issue 3).
#
# Run from this folder:   cd tests/reference && Rscript compare.R
#
# It writes SYNTHETIC datasets (made up here with a fixed seed; they describe
# no real person) and the values R computes on them:
#   compare_synthetic_paired_{a,b,c}.csv   forward vs backward, long format
#   compare_synthetic_trial_{a,b}.csv      baseline / follow-up by arm, long
#   compare_synthetic_safety_{a,b}.csv     sessions with adverse events
#   compare_synthetic_covariates.csv       baseline / follow-up by arm with age, sex, site
# and exports R's own (real) data sets, long, for the same analyses:
#   compare_real_sleep.csv, compare_real_shoes.csv      paired (datasets::sleep, MASS::shoes)
#   compare_real_anorexia.csv, compare_real_immer.csv   trials (MASS::anorexia, MASS::immer)
#   compare_reference.csv                  dataset, analysis, group, statistic, value
# tests/test_compare.py reads these files; nothing is copied by hand.
#
# Needs base R and emmeans (>= 1.8). Values are written with 17 significant
# digits so that the Python side can be compared to 1e-6 relative or better.

suppressPackageStartupMessages(library(emmeans))
options(warn = 1)

out <- list()
put <- function(dataset, analysis, group, statistic, value) {
  out[[length(out) + 1L]] <<- data.frame(
    dataset = dataset, analysis = analysis, group = group, statistic = statistic,
    value = sprintf("%.17g", as.numeric(value)), stringsAsFactors = FALSE)
}
write_data <- function(frame, file) {
  write.csv(frame, file, row.names = FALSE, quote = TRUE)
  # Read back what Python will read, so R and Python analyse the same numbers.
  read.csv(file, stringsAsFactors = FALSE)
}

# --------------------------------------------------------------------------
# Synthetic datasets
# --------------------------------------------------------------------------
set.seed(20261125)

# (a) cadence, steps/min: 14 participants, 2 trials each way; P14 walked
# only forward, so 13 complete pairs. Continuous values: no tied differences,
# so the exact signed-rank distribution applies.
ids <- sprintf("P%02d", 1:14)
fw <- rnorm(14, 108, 9)
shift <- rnorm(14, -4, 6)
rows <- list()
for (i in seq_along(ids)) {
  for (dirn in c("forward", "backward")) {
    if (ids[i] == "P14" && dirn == "backward") next
    for (trial in 1:2) {
      mu <- if (dirn == "forward") fw[i] else fw[i] + shift[i]
      rows[[length(rows) + 1L]] <- data.frame(
        participant_id = ids[i], measure = "cadence", week = 0L, direction = dirn,
        trial = trial, value = round(mu + rnorm(1, 0, 1.5), 2))
    }
  }
}
paired_a <- write_data(do.call(rbind, rows), "compare_synthetic_paired_a.csv")

# (b) heart rate, bpm (integers): 20 participants, 1 trial (P03 and P07: 2
# trials forward). Tied differences and a zero difference: R uses the normal
# approximation with continuity and tie correction.
ids <- sprintf("P%02d", 1:20)
rows <- list()
hr <- round(rnorm(20, 95, 10))
delta <- c(6, 4, 4, 0, 8, 10, 4, -2, 6, 12, 8, 6, 3, -4, 9, 5, 2, 7, 11, 6)
for (i in seq_along(ids)) {
  rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], measure = "heart_rate", week = 0L,
                                          direction = "forward", trial = 1L, value = hr[i])
  if (ids[i] %in% c("P03", "P07")) {
    # second forward trial two beats above the first: the mean moves by 1
    rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], measure = "heart_rate", week = 0L,
                                            direction = "forward", trial = 2L, value = hr[i] + 2)
  }
  rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], measure = "heart_rate", week = 0L,
                                          direction = "backward", trial = 1L, value = hr[i] + delta[i])
}
paired_b <- write_data(do.call(rbind, rows), "compare_synthetic_paired_b.csv")

# (c) step length, cm: 55 participants, 1 trial; n >= 50 so R uses the
# normal approximation (with continuity correction) even without ties.
ids <- sprintf("P%02d", 1:55)
fw <- rnorm(55, 62, 7)
rows <- list()
for (i in seq_along(ids)) {
  rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], measure = "step_length", week = 0L,
                                          direction = "forward", trial = 1L, value = round(fw[i], 2))
  rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], measure = "step_length", week = 0L,
                                          direction = "backward", trial = 1L,
                                          value = round(fw[i] - 2 + rnorm(1, 0, 6), 2))
}
paired_c <- write_data(do.call(rbind, rows), "compare_synthetic_paired_c.csv")

# (d) trial A: gait speed (m/s, higher is better), arms control (reference),
# forward, backward; 10 per arm; weeks 0 and 12; three follow-ups missing.
rows <- list()
arms <- rep(c("control", "forward", "backward"), each = 10)
gain <- c(control = 0.01, forward = 0.05, backward = 0.10)
ids <- sprintf("T%02d", 1:30)
missing_fu <- c("T04", "T15", "T27")
for (i in seq_along(ids)) {
  base <- rnorm(1, 0.95, 0.2)
  rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], arm = arms[i], condition = "older_adult",
                                          measure = "gait_speed", week = 0L, trial = 1L, value = round(base, 3))
  if (!(ids[i] %in% missing_fu)) {
    fu <- 0.15 + 0.85 * base + gain[[arms[i]]] + rnorm(1, 0, 0.08)
    rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], arm = arms[i], condition = "older_adult",
                                            measure = "gait_speed", week = 12L, trial = 1L, value = round(fu, 3))
  }
}
trial_a <- write_data(do.call(rbind, rows), "compare_synthetic_trial_a.csv")

# (e) trial B: Timed Up and Go (s, lower is better), arms control (reference)
# and backward, 12 per arm, 2 trials per visit; weeks 0 and 8; B05 and B20
# missed the follow-up, B24 has a follow-up but no baseline.
rows <- list()
arms <- rep(c("backward", "control"), each = 12)
ids <- sprintf("B%02d", 1:24)
for (i in seq_along(ids)) {
  base <- rnorm(1, 13, 2.5)
  fu <- base - (if (arms[i] == "backward") 1.6 else 0.3) + rnorm(1, 0, 1.2)
  for (trial in 1:2) {
    if (ids[i] != "B24") {
      rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], arm = arms[i], condition = "knee_oa",
                                              measure = "tug", week = 0L, trial = trial,
                                              value = round(base + rnorm(1, 0, 0.4), 2))
    }
    if (!(ids[i] %in% c("B05", "B20"))) {
      rows[[length(rows) + 1L]] <- data.frame(participant_id = ids[i], arm = arms[i], condition = "knee_oa",
                                              measure = "tug", week = 8L, trial = trial,
                                              value = round(fu + rnorm(1, 0, 0.4), 2))
    }
  }
}
trial_b <- write_data(do.call(rbind, rows), "compare_synthetic_trial_b.csv")

# (f, g) sessions with adverse events.
make_sessions <- function(arm_sizes, event_probs, n_sessions, prefix) {
  rows <- list()
  k <- 0
  for (arm in names(arm_sizes)) {
    for (j in seq_len(arm_sizes[[arm]])) {
      k <- k + 1
      pid <- sprintf("%s%02d", prefix, k)
      minutes <- round(runif(n_sessions, 15, 35))
      probs <- event_probs[[arm]]
      event <- sample(c("none", names(probs)), n_sessions, replace = TRUE, prob = c(1 - sum(probs), probs))
      rows[[length(rows) + 1L]] <- data.frame(participant_id = pid, arm = arm, week = rep(1:4, length.out = n_sessions),
                                              direction = if (arm == "backward") "backward" else "forward",
                                              minutes = minutes, adverse_event = event)
    }
  }
  do.call(rbind, rows)
}
safety_a <- write_data(make_sessions(
  c(control = 8, forward = 8, backward = 8),
  list(control = c(near_fall = 0.01, fall = 0.005, pain = 0.02),
       forward = c(near_fall = 0.02, fall = 0.005, pain = 0.03),
       backward = c(near_fall = 0.06, fall = 0.01, pain = 0.03)),
  24, "S"), "compare_synthetic_safety_a.csv")
safety_b <- write_data(make_sessions(
  c(backward = 10, control = 10),
  list(backward = c(near_fall = 0.04, pain = 0.02, other = 0.01),
       control = c(near_fall = 0.01, pain = 0.02, other = 0.0)),
  12, "Q"), "compare_synthetic_safety_b.csv")

# --------------------------------------------------------------------------
# Paired forward/backward comparisons
# --------------------------------------------------------------------------
# Noncentrality limits of an observed t: the ncp where pt(t, df, ncp) is
# (1 + level) / 2 and (1 - level) / 2 (uniroot, bracket widened as needed).
nct_limits <- function(t_obs, dfree, level = 0.95) {
  f <- function(ncp, target) pt(t_obs, dfree, ncp) - target
  solve <- function(target) {
    lo <- t_obs - 6; hi <- t_obs + 6
    while (f(lo, target) < 0) lo <- lo - 6
    while (f(hi, target) > 0) hi <- hi + 6
    uniroot(f, c(lo, hi), target = target, tol = 1e-13)$root
  }
  c(solve((1 + level) / 2), solve((1 - level) / 2))
}

# A paired comparison of two conditions of `within` (second minus first).
paired_reference <- function(name, data, dv = "value", subject = "participant_id", within = "direction",
                             first = "forward", second = "backward") {
  # Average repeated trials per participant and condition first.
  frame <- data.frame(id = data[[subject]], cond = as.character(data[[within]]), y = data[[dv]])
  frame <- frame[frame$cond %in% c(first, second) & !is.na(frame$y), ]
  means <- aggregate(y ~ id + cond, data = frame, FUN = mean)
  a1 <- means[means$cond == first, c("id", "y")]
  a2 <- means[means$cond == second, c("id", "y")]
  both <- merge(a1, a2, by = "id", suffixes = c("_first", "_second"))
  x_f <- both$y_first
  x_b <- both$y_second
  d <- x_b - x_f
  n <- length(d)
  put(name, "directions", "", "n", n)
  put(name, "directions", "", "n_unpaired", length(unique(data[[subject]])) - n)
  put(name, "directions", "", "mean_first", mean(x_f))
  put(name, "directions", "", "mean_second", mean(x_b))

  # t.test(x_b, x_f, paired = TRUE)
  tt <- t.test(x_b, x_f, paired = TRUE)
  put(name, "directions", "", "estimate", tt$estimate)
  put(name, "directions", "", "se", tt$stderr)
  put(name, "directions", "", "ci_low", tt$conf.int[1])
  put(name, "directions", "", "ci_high", tt$conf.int[2])
  put(name, "directions", "", "t", tt$statistic)
  put(name, "directions", "", "dof", tt$parameter)
  put(name, "directions", "", "p_val", tt$p.value)

  # Effect sizes. d_z = mean(d) / sd(d); d_av = mean(d) / mean(sd_f, sd_b);
  # g_av = d_av * J with J = 1 - 3 / (4 * (n - 1) - 1) (Lakens 2013).
  put(name, "directions", "", "cohen_dz", mean(d) / sd(d))
  # d_z's interval: t = d_z sqrt(n) is noncentral t with ncp = delta_z sqrt(n),
  # so the noncentrality limits divided by sqrt(n) (Cumming & Finch 2001;
  # MBESS::ci.sm(ncp = t, N = n) computes the same; MBESS is not on Debian).
  t_obs <- unname(tt$statistic)
  dfree <- n - 1
  ncp <- nct_limits(t_obs, dfree, 0.95)
  put(name, "directions", "", "cohen_dz_ci_low", ncp[1] / sqrt(n))
  put(name, "directions", "", "cohen_dz_ci_high", ncp[2] / sqrt(n))
  s_av <- (sd(x_f) + sd(x_b)) / 2
  J <- 1 - 3 / (4 * (n - 1) - 1)
  put(name, "directions", "", "hedges_gav", mean(d) / s_av * J)
  # CI: the same noncentral-t limits, rescaled to the d_av metric by
  # sd(d) / (sqrt(n) s_av), times J. A second computation of the method used
  # in Python, not an independent published implementation.
  scale <- sd(d) / (sqrt(n) * s_av) * J
  put(name, "directions", "", "hedges_gav_ci_low", ncp[1] * scale)
  put(name, "directions", "", "hedges_gav_ci_high", ncp[2] * scale)

  # wilcox.test(x_b, x_f, paired = TRUE): exact = NULL and correct = TRUE, the
  # defaults, i.e. exact when n < 50 without ties or zeros, else normal with
  # continuity correction.
  wt <- suppressWarnings(wilcox.test(x_b, x_f, paired = TRUE))
  put(name, "directions", "", "wilcoxon_w", wt$statistic)
  put(name, "directions", "", "wilcoxon_p_val", wt$p.value)
  nz <- d[d != 0]
  m <- length(nz)
  exact <- m < 50 && !any(d == 0) && length(unique(abs(nz))) == m
  put(name, "directions", "", "wilcoxon_exact", as.numeric(exact))
  # Matched-pairs rank-biserial from V (King, Rosopa & Minium's form of
  # Kerby 2014): r = 4 V / (m (m + 1)) - 1, m = number of non-zero differences.
  put(name, "directions", "", "rank_biserial", 4 * unname(wt$statistic) / (m * (m + 1)) - 1)
  put(name, "directions", "", "ratio", mean(x_b) / mean(x_f))
}
paired_reference("paired_a", paired_a)
paired_reference("paired_b", paired_b)
paired_reference("paired_c", paired_c)

# --------------------------------------------------------------------------
# Trials: ANCOVA, adjusted means, responders
# --------------------------------------------------------------------------
# One lm coefficient: summary(fit)$coefficients and confint(fit)
put_coefficient <- function(name, analysis, group, co, ci, term) {
  put(name, analysis, group, "estimate", co[term, "Estimate"])
  put(name, analysis, group, "se", co[term, "Std. Error"])
  put(name, analysis, group, "t", co[term, "t value"])
  put(name, analysis, group, "p_val", co[term, "Pr(>|t|)"])
  put(name, analysis, group, "ci_low", ci[term, 1])
  put(name, analysis, group, "ci_high", ci[term, 2])
}

# summary(emmeans(fit, "arm")): the adjusted mean of each arm
put_emmeans <- function(name, em) {
  s <- summary(em, level = 0.95)
  for (k in seq_len(nrow(s))) {
    a <- as.character(s$arm[k])
    put(name, "adjusted_means", a, "estimate", s$emmean[k])
    put(name, "adjusted_means", a, "se", s$SE[k])
    put(name, "adjusted_means", a, "dof", s$df[k])
    put(name, "adjusted_means", a, "ci_low", s$lower.CL[k])
    put(name, "adjusted_means", a, "ci_high", s$upper.CL[k])
  }
}

trial_reference <- function(name, data, reference, baseline_week, followup_week, better, threshold) {
  visit <- aggregate(value ~ participant_id + arm + week, data = data, FUN = mean)
  base <- visit[visit$week == baseline_week, c("participant_id", "arm", "value")]
  fu <- visit[visit$week == followup_week, c("participant_id", "value")]
  names(base)[3] <- "baseline"
  names(fu)[2] <- "followup"
  both <- merge(base, fu, by = "participant_id")
  both$arm <- relevel(factor(both$arm), ref = reference)
  put(name, "arms", "", "n_analysed", nrow(both))
  put(name, "arms", "", "n_missing_followup", sum(!(base$participant_id %in% fu$participant_id)))
  put(name, "arms", "", "n_missing_baseline", sum(!(fu$participant_id %in% base$participant_id)))

  # lm(followup ~ baseline + arm): ANCOVA with the reference arm as baseline level
  fit <- lm(followup ~ baseline + arm, data = both)
  co <- summary(fit)$coefficients
  ci <- confint(fit, level = 0.95)
  pvals <- c()
  for (a in setdiff(levels(both$arm), reference)) {
    term <- paste0("arm", a)
    pvals[paste(name, a, sep = "|")] <- co[term, "Pr(>|t|)"]
    put_coefficient(name, "arms", a, co, ci, term)
    put(name, "arms", a, "dof", fit$df.residual)
    # Hedges' g: adjusted difference / pooled within-arm SD of the follow-up
    # in the two arms compared, times 1 - 3 / (4 (n1 + n2) - 9).
    y1 <- both$followup[both$arm == a]
    y0 <- both$followup[both$arm == reference]
    n1 <- length(y1); n0 <- length(y0)
    sp <- sqrt(((n1 - 1) * var(y1) + (n0 - 1) * var(y0)) / (n1 + n0 - 2))
    omega <- 1 - 3 / (4 * (n1 + n0) - 9)
    put(name, "arms", a, "hedges_g", co[term, "Estimate"] / sp * omega)
    put(name, "arms", a, "hedges_g_ci_low", ci[term, 1] / sp * omega)
    put(name, "arms", a, "hedges_g_ci_high", ci[term, 2] / sp * omega)
  }
  # emmeans(fit, "arm"): adjusted means at the mean baseline
  put_emmeans(name, emmeans(fit, "arm"))
  put(name, "adjusted_means", "", "baseline_mean", mean(both$baseline))

  # Responders: change in the better direction of at least `threshold`.
  change <- both$followup - both$baseline
  hit <- if (better == "higher") change >= threshold else change <= -threshold
  x0 <- sum(hit[both$arm == reference]); n0 <- sum(both$arm == reference)
  # prop.test(x, n, correct = FALSE)$conf.int is the Wilson score interval.
  # (Its "Chi-squared approximation may be incorrect" warning concerns the
  # test, not the interval, hence suppressWarnings.)
  w0 <- suppressWarnings(prop.test(x0, n0, correct = FALSE))$conf.int
  for (a in levels(both$arm)) {
    x1 <- sum(hit[both$arm == a]); n1 <- sum(both$arm == a)
    w1 <- suppressWarnings(prop.test(x1, n1, correct = FALSE))$conf.int
    put(name, "responders", a, "n", n1)
    put(name, "responders", a, "responders", x1)
    put(name, "responders", a, "proportion", x1 / n1)
    put(name, "responders", a, "proportion_ci_low", w1[1])
    put(name, "responders", a, "proportion_ci_high", w1[2])
    if (a == reference) next
    # Newcombe (1998) hybrid score interval, method 10:
    #   D = p1 - p0
    #   L = D - sqrt((p1 - l1)^2 + (u0 - p0)^2)
    #   U = D + sqrt((u1 - p1)^2 + (p0 - l0)^2)
    # with (l, u) the Wilson limits of each arm.
    p1 <- x1 / n1; p0 <- x0 / n0
    D <- p1 - p0
    put(name, "responders", a, "risk_difference", D)
    put(name, "responders", a, "risk_difference_ci_low", D - sqrt((p1 - w1[1])^2 + (w0[2] - p0)^2))
    put(name, "responders", a, "risk_difference_ci_high", D + sqrt((w1[2] - p1)^2 + (p0 - w0[1])^2))
  }
  pvals
}
# Thresholds from the catalogue: gait speed MCID 0.05 m/s (Perera et al. 2006);
# TUG has no MCID there, so its MDC95 1.10 s (Alghadir et al. 2015).
p_a <- trial_reference("trial_a", trial_a, "control", 0, 12, "higher", 0.05)
p_b <- trial_reference("trial_b", trial_b, "control", 0, 8, "lower", 1.10)

# Multiplicity: the family is the three arm-versus-control ANCOVA p-values of
# both trials together (the test analyses them as one study with compare_all).
# p.adjust(p, "holm") and p.adjust(p, "BH")
p_all <- c(p_a, p_b)
for (k in names(p_all)) {
  put("trials_ab", "multitest", k, "p_holm", p.adjust(p_all, "holm")[[k]])
  put("trials_ab", "multitest", k, "p_bh", p.adjust(p_all, "BH")[[k]])
}

# --------------------------------------------------------------------------
# Safety: exact Poisson rates and rate ratios
# --------------------------------------------------------------------------
safety_reference <- function(name, sessions, reference) {
  types <- sort(unique(sessions$adverse_event[sessions$adverse_event != "none"]))
  minutes <- tapply(sessions$minutes, sessions$arm, sum)
  for (ev in c("any", types)) {
    hit <- if (ev == "any") sessions$adverse_event != "none" else sessions$adverse_event == ev
    counts <- tapply(hit, sessions$arm, sum)
    for (a in names(minutes)) {
      g <- paste(a, ev, sep = "|")
      x <- counts[[a]]
      # poisson.test(x, T): exact (Garwood) interval; rate per 1,000 minutes
      pt1 <- poisson.test(x, minutes[[a]] / 1000)
      put(name, "safety", g, "events", x)
      put(name, "safety", g, "session_minutes", minutes[[a]])
      put(name, "safety", g, "rate_per_1000_min", pt1$estimate)
      put(name, "safety", g, "rate_per_1000_min_ci_low", pt1$conf.int[1])
      put(name, "safety", g, "rate_per_1000_min_ci_high", pt1$conf.int[2])
      if (a == reference) next
      x0 <- counts[[reference]]
      if (x + x0 == 0) next
      # poisson.test(c(x1, x0), c(T1, T0)): conditional binomial (exact) test
      rr <- poisson.test(c(x, x0), c(minutes[[a]], minutes[[reference]]))
      put(name, "safety", g, "rate_ratio", rr$estimate)
      put(name, "safety", g, "rate_ratio_ci_low", rr$conf.int[1])
      put(name, "safety", g, "rate_ratio_ci_high", rr$conf.int[2])
      put(name, "safety", g, "p_val", rr$p.value)
    }
  }
}
safety_reference("safety_a", safety_a, "control")
safety_reference("safety_b", safety_b, "control")

# --------------------------------------------------------------------------
# Real paired data (issue 10): datasets::sleep (extra hours of sleep of the
# same 10 patients on drug 1 and drug 2, Cushny & Peebles 1905) and
# MASS::shoes (wear of materials A and B, one on each foot of 10 boys).
# --------------------------------------------------------------------------
sleep_long <- write_data(data.frame(
  patient = sprintf("S%02d", as.integer(datasets::sleep$ID)), drug = paste0("drug", datasets::sleep$group),
  extra_hours = datasets::sleep$extra), "compare_real_sleep.csv")
paired_reference("sleep", sleep_long, dv = "extra_hours", subject = "patient", within = "drug",
                 first = "drug1", second = "drug2")
shoes_long <- write_data(data.frame(
  boy = rep(sprintf("B%02d", 1:10), 2), material = rep(c("A", "B"), each = 10),
  wear = c(MASS::shoes$A, MASS::shoes$B)), "compare_real_shoes.csv")
paired_reference("shoes", shoes_long, dv = "wear", subject = "boy", within = "material",
                 first = "A", second = "B")

# --------------------------------------------------------------------------
# ANCOVA with covariates and every pair of arms (issue 10):
#   fit <- lm(followup ~ baseline + <covariates> + arm, data = both)
#   summary(contrast(emmeans(fit, "arm"), "revpairwise", adjust = "none" | "tukey" | "holm"),
#           infer = c(TRUE, TRUE))
# For Holm, emmeans gives Bonferroni intervals (Holm has none of its own).
# `both`: one row per participant, factors with their reference level first.
# --------------------------------------------------------------------------
pairwise_reference <- function(name, both, covariates = character(0)) {
  rhs <- paste(c("baseline", covariates, "arm"), collapse = " + ")
  fit <- lm(as.formula(paste("followup ~", rhs)), data = both)
  put(name, "pairs", "", "n_analysed", nobs(fit))
  co <- summary(fit)$coefficients
  ci <- confint(fit, level = 0.95)
  for (term in rownames(co)) {
    put_coefficient(name, "coefficients", term, co, ci, term)
  }
  em <- emmeans(fit, "arm")
  put_emmeans(name, em)
  for (adj in c("none", "tukey", "holm")) {
    cs <- summary(contrast(em, "revpairwise", adjust = adj), infer = c(TRUE, TRUE), level = 0.95)
    for (k in seq_len(nrow(cs))) {
      g <- as.character(cs$contrast[k])
      if (adj == "none") {
        put(name, "pairs", g, "estimate", cs$estimate[k])
        put(name, "pairs", g, "se", cs$SE[k])
        put(name, "pairs", g, "dof", cs$df[k])
        put(name, "pairs", g, "t", cs$t.ratio[k])
        put(name, "pairs", g, "p_val", cs$p.value[k])
        put(name, "pairs", g, "ci_low", cs$lower.CL[k])
        put(name, "pairs", g, "ci_high", cs$upper.CL[k])
      } else {
        interval <- if (adj == "tukey") "tukey" else "bonferroni"
        put(name, "pairs", g, paste0("p_", adj), cs$p.value[k])
        put(name, "pairs", g, paste0("ci_low_", interval), cs$lower.CL[k])
        put(name, "pairs", g, paste0("ci_high_", interval), cs$upper.CL[k])
      }
    }
  }
}

# MASS::anorexia: weight (lb) of 72 young women before and after treatment,
# arms CBT, Cont (control) and FT. Long, visit 0 = before, 1 = after.
anorexia <- MASS::anorexia
anorexia_long <- write_data(data.frame(
  participant_id = rep(sprintf("A%02d", seq_len(nrow(anorexia))), each = 2),
  arm = rep(as.character(anorexia$Treat), each = 2), visit = rep(0:1, nrow(anorexia)),
  weight_lb = c(rbind(anorexia$Prewt, anorexia$Postwt))), "compare_real_anorexia.csv")
anorexia_both <- data.frame(arm = as.character(anorexia$Treat), baseline = anorexia$Prewt,
                            followup = anorexia$Postwt)
# reference "Cont" (relevel); reference "CBT" (relevel); the order FT, CBT,
# Cont given as the factor's levels (a pandas Categorical in Python).
pairwise_reference("anorexia", transform(anorexia_both, arm = relevel(factor(arm), ref = "Cont")))
pairwise_reference("anorexia_cbt", transform(anorexia_both, arm = relevel(factor(arm), ref = "CBT")))
pairwise_reference("anorexia_ft", transform(anorexia_both, arm = factor(arm, levels = c("FT", "CBT", "Cont"))))
# One-sided (arm above the earlier arm): the same contrasts with side = ">"
#   summary(contrast(em, "revpairwise", adjust = "none" | "holm"), infer = c(TRUE, TRUE), side = ">")
em_cont <- emmeans(lm(followup ~ baseline + arm,
                      data = transform(anorexia_both, arm = relevel(factor(arm), ref = "Cont"))), "arm")
for (adj in c("none", "holm")) {
  cs <- summary(contrast(em_cont, "revpairwise", adjust = adj), infer = c(TRUE, TRUE), level = 0.95, side = ">")
  for (k in seq_len(nrow(cs))) {
    g <- as.character(cs$contrast[k])
    if (adj == "none") {
      put("anorexia_greater", "pairs", g, "p_val", cs$p.value[k])
      put("anorexia_greater", "pairs", g, "ci_low", cs$lower.CL[k])
    } else {
      put("anorexia_greater", "pairs", g, "p_holm", cs$p.value[k])
      put("anorexia_greater", "pairs", g, "ci_low_bonferroni", cs$lower.CL[k])
    }
    stopifnot(is.infinite(cs$upper.CL[k]))
  }
}
# Responders without a catalogue measure: a gain of at least 2 lb (higher is better).
invisible(trial_reference("anorexia", data.frame(participant_id = anorexia_long$participant_id,
                                                 arm = anorexia_long$arm, week = anorexia_long$visit,
                                                 value = anorexia_long$weight_lb),
                          "Cont", 0, 1, "higher", 2))

# MASS::immer: barley yield of 5 varieties at 6 locations in 1931 and 1932.
# Variety is the "arm", 1931 the baseline, 1932 the follow-up, location a
# factor covariate (reference C, the first level, and UF).
immer <- MASS::immer
immer_long <- write_data(data.frame(
  plot = rep(paste(immer$Var, immer$Loc, sep = "-"), each = 2), variety = rep(as.character(immer$Var), each = 2),
  location = rep(as.character(immer$Loc), each = 2), year = rep(c(1931L, 1932L), nrow(immer)),
  yield = c(rbind(immer$Y1, immer$Y2))), "compare_real_immer.csv")
immer_both <- data.frame(arm = factor(as.character(immer$Var)), location = factor(as.character(immer$Loc)),
                         baseline = immer$Y1, followup = immer$Y2)
pairwise_reference("immer", immer_both, "location")
pairwise_reference("immer_uf", transform(immer_both, location = relevel(location, ref = "UF")), "location")

# SYNTHETIC trial with covariates: gait speed (m/s), arms control, forward,
# backward (16 each), age (years, 2 missing), sex and site; weeks 0 and 12,
# one follow-up missing.
set.seed(20261126)
n <- 48
cov_people <- data.frame(
  participant_id = sprintf("C%02d", 1:n), arm = rep(c("control", "forward", "backward"), each = 16),
  age = round(runif(n, 60, 86)), sex = sample(c("F", "M"), n, replace = TRUE),
  site = sample(c("Leeds", "Oslo", "Porto"), n, replace = TRUE), stringsAsFactors = FALSE)
base <- rnorm(n, 0.9, 0.2)
gain <- c(control = 0, forward = 0.04, backward = 0.09)[cov_people$arm]
site_eff <- c(Leeds = 0, Oslo = 0.05, Porto = -0.03)[cov_people$site]
fu <- 0.2 + 0.8 * base + gain - 0.004 * (cov_people$age - 72) + 0.04 * (cov_people$sex == "M") + site_eff +
  rnorm(n, 0, 0.07)
cov_people$age[c(5, 30)] <- NA
rows <- list()
for (i in seq_len(n)) {
  rows[[length(rows) + 1L]] <- cbind(cov_people[i, ], week = 0L, value = round(base[i], 3))
  if (i != 40) rows[[length(rows) + 1L]] <- cbind(cov_people[i, ], week = 12L, value = round(fu[i], 3))
}
cov_long <- write_data(do.call(rbind, rows), "compare_synthetic_covariates.csv")
cov_both <- merge(cov_long[cov_long$week == 0, c("participant_id", "arm", "age", "sex", "site", "value")],
                  setNames(cov_long[cov_long$week == 12, c("participant_id", "value")], c("participant_id", "followup")),
                  by = "participant_id")
names(cov_both)[names(cov_both) == "value"] <- "baseline"
cov_both$arm <- relevel(factor(cov_both$arm), ref = "control")
cov_both$sex <- factor(cov_both$sex)
cov_both$site <- factor(cov_both$site)
# lm drops the two participants without an age (na.omit), as compare_arms does.
pairwise_reference("covariates", cov_both, c("age", "sex", "site"))

# --------------------------------------------------------------------------
# Multiplicity helpers: p.adjust(p, "holm" | "bonferroni" | "BH") (an NA is
# kept and not counted) and the studentized range:
# ptukey(sqrt(2) * t, k, df, lower.tail = FALSE), qtukey(0.95, k, df) / sqrt(2)
# --------------------------------------------------------------------------
p_family <- c(0.01, 0.04, 0.03, 0.2, NA, 0.5)
for (m in c("holm", "bonferroni", "BH")) {
  adj <- p.adjust(p_family, m)
  for (i in which(!is.na(adj))) put("multiplicity", "p_adjust", m, paste0("p", i), adj[i])
}
for (k in c(2, 3, 5)) {
  for (dfree in c(5, 19.5, 68, Inf)) {
    g <- paste(k, dfree, sep = "|")
    for (tval in c(0.5, 2, 3.5)) {
      put("multiplicity", "tukey", g, paste0("p_t", tval), ptukey(sqrt(2) * tval, k, dfree, lower.tail = FALSE))
    }
    put("multiplicity", "tukey", g, "critical", qtukey(0.95, k, dfree) / sqrt(2))
  }
}

reference <- do.call(rbind, out)
write.csv(reference, "compare_reference.csv", row.names = FALSE, quote = TRUE)
cat("wrote", nrow(reference), "reference values to compare_reference.csv\n")
