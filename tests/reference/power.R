# Reference values for backwalk_study.stats.power (issue 14): lme4 + lmerTest.
#
# Run from tests/reference/:   Rscript power.R
# Tested with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2.
#
# 1. Power by an R loop, as a researcher (or simr) would compute it. The
#    design (every number also in tests/test_power.py, POWER_DESIGN):
#    two arms ("control", "backward") of 40, visits at weeks 0, 4, 8, 12,
#    random intercept SD 0.2, random slope SD 0.005 per week, correlation 0,
#    residual SD 0.05, slope difference 0.05 / 12 per week in "backward",
#    monotone dropout: each visit after baseline missed (with all later ones)
#    with probability 0.05. 200 SYNTHETIC trials, set.seed(20261126), R's
#    default RNG (Mersenne-Twister, Inversion, Rejection). Per trial:
#      m <- lmerTest::lmer(value ~ arm * week + (week | pid), d, REML = TRUE)
#      summary(m)$coefficients["armbackward:week", ]     # Satterthwaite df
#      isSingular(m)
#    -> power_r_trials.csv (one row per trial), power_r_summary.csv.
# 2. Per-fit agreement: the first 3 simulated trials are also written
#    (power_synthetic_trials.csv) and refitted with a tight optimiser
#      control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
#    and the same on REAL data: lme4's sleepstudy with its 18 subjects split
#    into two groups by their order (the first 9 "a", the last 9 "b": an
#    arbitrary grouping, not a treatment)
#      lmer(Reaction ~ group * Days + (Days | Subject), sleepstudy)
#    with Satterthwaite (summary(m)) and Kenward-Roger
#      summary(m, ddf = "Kenward-Roger")$coefficients       # pbkrtest's vcovAdj and Lb_ddf
#    -> power_r_fits.csv (kr_se, kr_dof, kr_p_val: Kenward-Roger).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
})

set.seed(20261126)
weeks <- c(0, 4, 8, 12)
n_per_arm <- 40
sd_int <- 0.2; sd_slope <- 0.005; sd_res <- 0.05
delta <- 0.05 / 12; dropout <- 0.05
n_trials <- 200

simulate_trial <- function() {
  arm <- rep(c("control", "backward"), each = n_per_arm)
  N <- length(arm)
  b0 <- rnorm(N, 0, sd_int)
  b1 <- rnorm(N, 0, sd_slope)
  slope <- b1 + ifelse(arm == "backward", delta, 0)
  stays <- matrix(runif(N * (length(weeks) - 1)) >= dropout, nrow = N)
  n_obs <- 1 + apply(stays, 1, function(s) sum(cumprod(s)))
  rows <- lapply(seq_len(N), function(i) {
    k <- seq_len(n_obs[i])
    data.frame(pid = i, arm = arm[i], week = weeks[k],
               value = b0[i] + slope[i] * weeks[k] + rnorm(length(k), 0, sd_res))
  })
  d <- do.call(rbind, rows)
  d$arm <- factor(d$arm, levels = c("control", "backward"))
  d
}

term <- "armbackward:week"
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
trials <- vector("list", n_trials)
kept <- list()
for (r in seq_len(n_trials)) {
  d <- simulate_trial()
  if (r <= 3) kept[[r]] <- cbind(trial = r, d)
  m <- suppressMessages(suppressWarnings(lmer(value ~ arm * week + (week | pid), d, REML = TRUE)))
  co <- summary(m)$coefficients
  trials[[r]] <- data.frame(trial = r, estimate = co[term, "Estimate"], se = co[term, "Std. Error"],
                            dof = co[term, "df"], p_val = co[term, "Pr(>|t|)"],
                            singular = isSingular(m))
}
trials <- do.call(rbind, trials)
write.csv(format(trials, digits = 10), "power_r_trials.csv", row.names = FALSE, quote = FALSE)

rejected <- sum(trials$p_val < 0.05)
ci <- binom.test(rejected, n_trials)$conf.int  # Clopper-Pearson
summary_tab <- data.frame(n_trials = n_trials, n_rejected = rejected, power = rejected / n_trials,
                          ci_low = ci[1], ci_high = ci[2], n_singular = sum(trials$singular))
write.csv(format(summary_tab, digits = 10), "power_r_summary.csv", row.names = FALSE, quote = FALSE)

kept <- do.call(rbind, kept)
write.csv(format(kept, digits = 15), "power_synthetic_trials.csv", row.names = FALSE, quote = FALSE)

fit_row <- function(label, m, term) {
  co <- summary(m)$coefficients
  kr <- summary(m, ddf = "Kenward-Roger")$coefficients
  data.frame(data = label, term = term, estimate = co[term, "Estimate"], se = co[term, "Std. Error"],
             dof = co[term, "df"], p_val = co[term, "Pr(>|t|)"], reml = REMLcrit(m),
             singular = isSingular(m), kr_se = kr[term, "Std. Error"], kr_dof = kr[term, "df"],
             kr_p_val = kr[term, "Pr(>|t|)"])
}
fits <- list()
for (r in 1:3) {
  d <- kept[kept$trial == r, ]
  d$arm <- factor(d$arm, levels = c("control", "backward"))
  m <- lmer(value ~ arm * week + (week | pid), d, REML = TRUE, control = tight)
  fits[[r]] <- fit_row(paste0("synthetic_trial_", r), m, term)
}
sleep <- sleepstudy
subjects <- levels(sleep$Subject)
sleep$group <- factor(ifelse(as.integer(sleep$Subject) <= 9, "a", "b"), levels = c("a", "b"))
m <- lmer(Reaction ~ group * Days + (Days | Subject), sleep, REML = TRUE, control = tight)
fits[[4]] <- fit_row("sleepstudy", m, "groupb:Days")
fits <- do.call(rbind, fits)
write.csv(format(fits, digits = 12), "power_r_fits.csv", row.names = FALSE, quote = FALSE)
