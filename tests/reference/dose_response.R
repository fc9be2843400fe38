# Reference values for backwalk_study.dose (issue 4): lme4 + lmerTest + emmeans.
#
# Run from tests/reference/:   Rscript dose_response.R
# Tested with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4.
#
# Writes the datasets (sleepstudy is real data shipped with lme4; every other
# dataset is SYNTHETIC, simulated here with a fixed seed, and named
# dose_synthetic_*.csv) and the reference tables dose_response_*.csv, which
# tests/test_dose.py reads. The exact calls are, per model (see `models`):
#   m   <- lmerTest::lmer(formula, data, REML = reml, control = tight)
#   with tight <- lmerControl(optimizer = "bobyqa",
#                             optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
#   because lme4's default optimiser stops short on the dose model (cumulative
#   minutes as time: "Model failed to converge with max|grad| = 1.09"); whether
#   the default fit converged is recorded as `default_converged`.
#   summary(m)$coefficients                                    # Satterthwaite df
#   emmeans(m, ~ arm | week, at = list(week = c(...)), lmer.df = "satterthwaite")
#   pairs(emm, adjust = "none")
#   emtrends(m, ~ arm | week, var = "week", at = ..., lmer.df = "satterthwaite",
#            delta.var = 1e-6)
#   ranef(m, condVar = TRUE)
#   anova(m_ml_1, m_ml_2)                                      # likelihood-ratio tests
# R2 (Nakagawa & Schielzeth 2013, Johnson 2014 for random slopes; what
# MuMIn::r.squaredGLMM and performance::r2_nakagawa compute, neither installed):
#   var_f = var(X %*% beta)                 (sample variance, n - 1)
#   var_r = mean over rows j of z_j' Sigma z_j   (z_j the random-effects design row)
#   var_e = sigma^2
#   R2_marginal = var_f / (var_f + var_r + var_e)
#   R2_conditional = (var_f + var_r) / (var_f + var_r + var_e)

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(splines)
})
emm_options(lmerTest.limit = 1e6)  # never silently fall back to asymptotic df
options(digits = 15)

# ---------------------------------------------------------------- datasets
write.csv(sleepstudy, "dose_sleepstudy.csv", row.names = FALSE)

arms <- c("backward", "control", "forward")

simulate_trial <- function(n_per_arm, weeks, seed, sd_int = 0.12, sd_slope = 0.012,
                           rho = -0.3, missing = 0, slope_by_arm = c(0.030, 0.008, 0.018)) {
  set.seed(seed)
  n <- n_per_arm * length(arms)
  pid <- sprintf("P%03d", seq_len(n))
  arm <- rep(arms, each = n_per_arm)
  age <- round(rnorm(n, 68, 8), 1)
  sex <- sample(c("f", "m"), n, replace = TRUE)
  z <- matrix(rnorm(2 * n), n)
  u <- cbind(sd_int * z[, 1], sd_slope * (rho * z[, 1] + sqrt(1 - rho^2) * z[, 2]))
  d <- expand.grid(week = weeks, i = seq_len(n))
  d$participant_id <- pid[d$i]
  d$arm <- arm[d$i]
  d$age_years <- age[d$i]
  d$sex <- sex[d$i]
  slope <- slope_by_arm[match(d$arm, arms)]
  d$gait_speed <- round(1.0 - 0.004 * (d$age_years - 68) + 0.03 * (d$sex == "m") + u[d$i, 1] +
    (slope + u[d$i, 2]) * d$week + rnorm(nrow(d), 0, 0.05), 4)
  # planned 3 sessions of 20 min a week; adherence varies by participant
  adherence <- runif(n, 0.4, 1)
  d$sessions <- ifelse(d$week == 0, 0, rbinom(nrow(d), 3, adherence[d$i]))
  d$backward_minutes <- round(d$sessions * runif(nrow(d), 15, 25), 1)
  d <- d[order(d$i, d$week), ]
  d$cumulative_backward_minutes <- ave(d$backward_minutes, d$i, FUN = cumsum)
  if (missing > 0) {
    drop <- d$week > 0 & runif(nrow(d)) < missing
    # drop-out: some participants stop attending after a random week
    stop_week <- ifelse(runif(n) < 0.2, sample(weeks[-1], n, replace = TRUE), Inf)
    drop <- drop | d$week > stop_week[d$i]
    d <- d[!drop, ]
  }
  d$i <- NULL
  rownames(d) <- NULL
  d
}

trial <- simulate_trial(20, 0:12, seed = 20261125)
write.csv(trial, "dose_synthetic_trial.csv", row.names = FALSE)
missing_visits <- simulate_trial(18, seq(0, 12, by = 2), seed = 4242, missing = 0.25)
write.csv(missing_visits, "dose_synthetic_missing_visits.csv", row.names = FALSE)
# no true slope variation: lme4 reports a singular (boundary) fit
singular <- simulate_trial(10, c(0, 4, 8, 12), seed = 2, sd_slope = 0, rho = 0)
write.csv(singular, "dose_synthetic_singular.csv", row.names = FALSE)

# ------------------------------------------------------------------ models
read_data <- function(file, reference = NULL) {
  d <- read.csv(file)
  if ("arm" %in% names(d)) {
    d$arm <- factor(d$arm)
    if (!is.null(reference)) d$arm <- relevel(d$arm, reference)
  }
  if ("sex" %in% names(d)) d$sex <- factor(d$sex)
  d
}

# id, data file, formula, REML, time variable, EMM times, reference level
models <- list(
  list(id = "sleep_linear", file = "dose_sleepstudy.csv", reml = TRUE, time = "Days",
       f = Reaction ~ Days + (Days | Subject), at = c(0, 9)),
  list(id = "sleep_linear_ml", file = "dose_sleepstudy.csv", reml = FALSE, time = "Days",
       f = Reaction ~ Days + (Days | Subject), at = c(0, 9)),
  list(id = "sleep_intercept", file = "dose_sleepstudy.csv", reml = TRUE, time = "Days",
       f = Reaction ~ Days + (1 | Subject), at = c(4.5)),
  list(id = "sleep_quadratic_ml", file = "dose_sleepstudy.csv", reml = FALSE, time = "Days",
       f = Reaction ~ Days + I(Days^2) + (Days | Subject), at = c(9)),
  list(id = "trial_linear", file = "dose_synthetic_trial.csv", reml = TRUE, time = "week",
       f = gait_speed ~ week * arm + (week | participant_id), at = c(0, 12)),
  list(id = "trial_covariates", file = "dose_synthetic_trial.csv", reml = TRUE, time = "week",
       f = gait_speed ~ week * arm + sex + age_years + (week | participant_id), at = c(12)),
  list(id = "trial_linear_ml", file = "dose_synthetic_trial.csv", reml = FALSE, time = "week",
       f = gait_speed ~ week * arm + (week | participant_id), at = c(12)),
  list(id = "trial_quadratic_ml", file = "dose_synthetic_trial.csv", reml = FALSE, time = "week",
       f = gait_speed ~ (week + I(week^2)) * arm + (week | participant_id), at = c(4, 12)),
  list(id = "trial_spline_ml", file = "dose_synthetic_trial.csv", reml = FALSE, time = "week",
       f = gait_speed ~ ns(week, knots = c(4, 8), Boundary.knots = c(0, 12)) * arm +
         (week | participant_id), at = c(2, 6, 12)),
  list(id = "trial_plateau_ml", file = "dose_synthetic_trial.csv", reml = FALSE, time = "week",
       f = gait_speed ~ pmin(week, 8) * arm + (pmin(week, 8) | participant_id), at = c(4, 12)),
  list(id = "missing_linear", file = "dose_synthetic_missing_visits.csv", reml = TRUE, time = "week",
       f = gait_speed ~ week * arm + (week | participant_id), at = c(0, 6, 12),
       reference = "control"),
  list(id = "missing_dose", file = "dose_synthetic_missing_visits.csv", reml = TRUE,
       time = "cumulative_backward_minutes",
       f = gait_speed ~ cumulative_backward_minutes * arm + sessions +
         (cumulative_backward_minutes | participant_id), at = c(0, 500)),
  list(id = "singular_linear", file = "dose_synthetic_singular.csv", reml = TRUE, time = "week",
       f = gait_speed ~ week * arm + (week | participant_id), at = c(12))
)

patsy_names <- function(x, time) {
  x <- sub("^\\(Intercept\\)$", "Intercept", x)
  x <- gsub("arm(backward|control|forward)", "arm[T.\\1]", x)
  x <- gsub("sexm", "sex[T.m]", x)
  x <- gsub("I\\(([A-Za-z_]+)\\^2\\)", "I(\\1 ** 2)", x)
  x <- gsub("pmin\\(([A-Za-z_]+), 8\\)", "np.minimum(\\1, 8)", x)
  # R writes an interaction in the order the formula gives; patsy puts the
  # numeric factor first, which is also the formula's order here
  x
}

tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
fixed <- random <- emm <- con <- ranefs <- list()
fits <- list()
for (spec in models) {
  d <- read_data(spec$file, spec$reference)
  m_default <- suppressWarnings(lmer(spec$f, data = d, REML = spec$reml))
  default_ok <- is.null(m_default@optinfo$conv$lme4$messages) ||
    identical(m_default@optinfo$conv$lme4$messages, "boundary (singular) fit: see help('isSingular')")
  m <- lmer(spec$f, data = d, REML = spec$reml, control = tight)
  fits[[spec$id]] <- m
  time <- spec$time
  group <- names(getME(m, "flist"))[1]
  cf <- summary(m)$coefficients
  fixed[[spec$id]] <- data.frame(
    model = spec$id, term = patsy_names(rownames(cf), time), estimate = cf[, "Estimate"],
    se = cf[, "Std. Error"], dof = cf[, "df"], t = cf[, "t value"], p_val = cf[, "Pr(>|t|)"])

  vc <- as.data.frame(VarCorr(m))
  Sigma <- VarCorr(m)[[group]]
  Zm <- getME(m, "mmList")[[1]]
  var_f <- var(as.vector(getME(m, "X") %*% fixef(m)))
  var_r <- mean(rowSums((Zm %*% Sigma) * Zm))
  var_e <- sigma(m)^2
  th <- getME(m, "theta")
  q <- ncol(Sigma)
  vals <- c(sd_intercept = sqrt(Sigma[1, 1]),
            sd_slope = if (q == 2) sqrt(Sigma[2, 2]) else NA,
            corr_intercept_slope = if (q == 2) attr(Sigma, "correlation")[1, 2] else NA,
            sd_residual = sigma(m),
            theta1 = unname(th[1]), theta2 = if (q == 2) unname(th[2]) else NA,
            theta3 = if (q == 2) unname(th[3]) else NA,
            loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m),
            r2_marginal = var_f / (var_f + var_r + var_e),
            r2_conditional = (var_f + var_r) / (var_f + var_r + var_e),
            singular = as.numeric(isSingular(m)), n_obs = nobs(m),
            default_converged = as.numeric(default_ok),
            converged = as.numeric(is.null(m@optinfo$conv$lme4$messages) || isSingular(m)))
  random[[spec$id]] <- data.frame(model = spec$id, quantity = names(vals), value = unname(vals))

  at <- setNames(list(spec$at), time)
  has_arm <- "arm" %in% names(d) && any(grepl("arm", rownames(cf)))
  spec_emm <- if (has_arm) as.formula(paste("~ arm |", time)) else as.formula(paste("~", time))
  e <- emmeans(m, spec_emm, at = at, lmer.df = "satterthwaite")
  ed <- as.data.frame(e)
  emm[[spec$id]] <- data.frame(
    model = spec$id, level = if (has_arm) as.character(ed$arm) else NA, time = ed[[time]],
    estimate = ed$emmean, se = ed$SE, dof = ed$df, ci_low = ed$lower.CL, ci_high = ed$upper.CL)

  tr_spec <- if (has_arm) as.formula(paste("~ arm |", time)) else as.formula(paste("~", time))
  # a small delta.var: emtrends differences numerically (forward), we differentiate exactly
  tr <- emtrends(m, tr_spec, var = time, at = at, lmer.df = "satterthwaite", delta.var = 1e-6)
  td <- as.data.frame(summary(tr, infer = TRUE))
  slope_rows <- data.frame(
    model = spec$id, quantity = "slope_level", contrast = if (has_arm) as.character(td$arm) else NA,
    time = td[[time]], estimate = td[[paste0(time, ".trend")]], se = td$SE, dof = td$df,
    t = td$t.ratio, p_val = td$p.value)
  rows <- list(slope_rows)
  if (has_arm) {
    for (what in c("mean", "slope")) {
      pr <- as.data.frame(pairs(if (what == "mean") e else tr, adjust = "none"))
      rows[[what]] <- data.frame(
        model = spec$id, quantity = what, contrast = as.character(pr$contrast), time = pr[[time]],
        estimate = pr$estimate, se = pr$SE, dof = pr$df, t = pr$t.ratio, p_val = pr$p.value)
    }
  }
  con[[spec$id]] <- do.call(rbind, rows)

  re <- ranef(m, condVar = TRUE)[[group]]
  pv <- attr(re, "postVar")
  ranefs[[spec$id]] <- data.frame(
    model = spec$id, subject = rownames(re), intercept = re[, 1],
    slope = if (q == 2) re[, 2] else NA,
    sd_intercept = sqrt(pv[1, 1, ]), sd_slope = if (q == 2) sqrt(pv[2, 2, ]) else NA)
}

lrt <- function(id, a, b) {
  an <- anova(fits[[a]], fits[[b]])
  data.frame(comparison = id, model = c(a, b), n_params = an$npar, loglik = an$logLik,
             aic = an$AIC, bic = an$BIC, chisq = an$Chisq, dof = an$Df,
             p_val = an$`Pr(>Chisq)`)
}
lrts <- rbind(
  lrt("sleep_linear_vs_quadratic", "sleep_linear_ml", "sleep_quadratic_ml"),
  lrt("trial_linear_vs_quadratic", "trial_linear_ml", "trial_quadratic_ml"),
  lrt("trial_linear_vs_spline", "trial_linear_ml", "trial_spline_ml"),
  # random slope or not: anova() refits both REML fits by ML
  lrt("sleep_random_slope", "sleep_intercept", "sleep_linear")
)

w <- function(x, file) write.csv(do.call(rbind, x), file, row.names = FALSE)
w(fixed, "dose_response_fixed.csv")
w(random, "dose_response_random.csv")
w(emm, "dose_response_emmeans.csv")
w(con, "dose_response_contrasts.csv")
w(ranefs, "dose_response_ranef.csv")
write.csv(lrts, "dose_response_lrt.csv", row.names = FALSE)
cat("wrote dose_response_*.csv and datasets\n")
