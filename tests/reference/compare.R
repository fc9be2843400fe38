# Reference values for backwalk_study.compare (issue 3).
#
# Run from this folder:   cd tests/reference && Rscript compare.R
#
# It writes SYNTHETIC datasets (made up here with a fixed seed; they describe
# no real person) and the values R computes on them:
#   compare_synthetic_paired_{a,b,c}.csv   forward vs backward, long format
#   compare_synthetic_trial_{a,b}.csv      baseline / follow-up by arm, long
#   compare_synthetic_safety_{a,b}.csv     sessions with adverse events
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
paired_reference <- function(name, data) {
  # Average repeated trials per participant and direction first.
  means <- aggregate(value ~ participant_id + direction, data = data, FUN = mean)
  fw <- means[means$direction == "forward", c("participant_id", "value")]
  bw <- means[means$direction == "backward", c("participant_id", "value")]
  both <- merge(fw, bw, by = "participant_id", suffixes = c("_forward", "_backward"))
  x_f <- both$value_forward
  x_b <- both$value_backward
  d <- x_b - x_f
  n <- length(d)
  put(name, "directions", "", "n", n)
  put(name, "directions", "", "n_unpaired", length(unique(data$participant_id)) - n)
  put(name, "directions", "", "mean_forward", mean(x_f))
  put(name, "directions", "", "mean_backward", mean(x_b))

  # t.test(x_b, x_f, paired = TRUE)
  tt <- t.test(x_b, x_f, paired = TRUE)
  put(name, "directions", "", "mean_diff", tt$estimate)
  put(name, "directions", "", "ci_low", tt$conf.int[1])
  put(name, "directions", "", "ci_high", tt$conf.int[2])
  put(name, "directions", "", "t", tt$statistic)
  put(name, "directions", "", "dof", tt$parameter)
  put(name, "directions", "", "p_val", tt$p.value)

  # Effect sizes. d_z = mean(d) / sd(d); d_av = mean(d) / mean(sd_f, sd_b);
  # g_av = d_av * J with J = 1 - 3 / (4 * (n - 1) - 1) (Lakens 2013).
  put(name, "directions", "", "cohen_dz", mean(d) / sd(d))
  s_av <- (sd(x_f) + sd(x_b)) / 2
  J <- 1 - 3 / (4 * (n - 1) - 1)
  put(name, "directions", "", "hedges_gav", mean(d) / s_av * J)
  # CI: noncentral-t limits for the paired t's noncentrality (uniroot on
  # pt(t, n - 1, ncp)), rescaled to the d_av metric by sd(d) / (sqrt(n) s_av),
  # times J. A second computation of the method used in Python, not an
  # independent published implementation.
  t_obs <- unname(tt$statistic)
  dfree <- n - 1
  f <- function(ncp, target) pt(t_obs, dfree, ncp) - target
  lo <- uniroot(f, c(t_obs - 6, t_obs + 6), target = 0.975, tol = 1e-13)$root
  hi <- uniroot(f, c(t_obs - 6, t_obs + 6), target = 0.025, tol = 1e-13)$root
  scale <- sd(d) / (sqrt(n) * s_av) * J
  put(name, "directions", "", "hedges_gav_ci_low", lo * scale)
  put(name, "directions", "", "hedges_gav_ci_high", hi * scale)

  # wilcox.test(x_b, x_f, paired = TRUE): exact = NULL and correct = TRUE, the
  # defaults, i.e. exact when n < 50 without ties or zeros, else normal with
  # continuity correction.
  wt <- suppressWarnings(wilcox.test(x_b, x_f, paired = TRUE))
  put(name, "directions", "", "wilcoxon_w", wt$statistic)
  put(name, "directions", "", "wilcoxon_p", wt$p.value)
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
    put(name, "arms", a, "estimate", co[term, "Estimate"])
    put(name, "arms", a, "se", co[term, "Std. Error"])
    put(name, "arms", a, "t", co[term, "t value"])
    put(name, "arms", a, "p_val", co[term, "Pr(>|t|)"])
    put(name, "arms", a, "ci_low", ci[term, 1])
    put(name, "arms", a, "ci_high", ci[term, 2])
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
  em <- summary(emmeans(fit, "arm"), level = 0.95)
  for (k in seq_len(nrow(em))) {
    a <- as.character(em$arm[k])
    put(name, "adjusted_means", a, "adjusted_mean", em$emmean[k])
    put(name, "adjusted_means", a, "se", em$SE[k])
    put(name, "adjusted_means", a, "dof", em$df[k])
    put(name, "adjusted_means", a, "ci_low", em$lower.CL[k])
    put(name, "adjusted_means", a, "ci_high", em$upper.CL[k])
  }
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
    put(name, "responders", a, "rd_ci_low", D - sqrt((p1 - w1[1])^2 + (w0[2] - p0)^2))
    put(name, "responders", a, "rd_ci_high", D + sqrt((w1[2] - p1)^2 + (p0 - w0[1])^2))
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
  put("trials_ab", "multitest", k, "p_fdr_bh", p.adjust(p_all, "BH")[[k]])
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
      put(name, "safety", g, "rate_ci_low", pt1$conf.int[1])
      put(name, "safety", g, "rate_ci_high", pt1$conf.int[2])
      if (a == reference) next
      x0 <- counts[[reference]]
      if (x + x0 == 0) next
      # poisson.test(c(x1, x0), c(T1, T0)): conditional binomial (exact) test
      rr <- poisson.test(c(x, x0), c(minutes[[a]], minutes[[reference]]))
      put(name, "safety", g, "rate_ratio", rr$estimate)
      put(name, "safety", g, "rr_ci_low", rr$conf.int[1])
      put(name, "safety", g, "rr_ci_high", rr$conf.int[2])
      put(name, "safety", g, "rr_p_val", rr$p.value)
    }
  }
}
safety_reference("safety_a", safety_a, "control")
safety_reference("safety_b", safety_b, "control")

reference <- do.call(rbind, out)
write.csv(reference, "compare_reference.csv", row.names = FALSE, quote = TRUE)
cat("wrote", nrow(reference), "reference values to compare_reference.csv\n")
