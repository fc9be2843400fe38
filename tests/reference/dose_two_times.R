# Reference values for a random slope with only two distinct times (issue 10, item 3).
# lme4 fits (period | Subject) when people have more than one observation per time.
# Data: lme4's sleepstudy, Days 0-4 as period 0 and Days 5-9 as period 1.
# Calls:
#   m <- lmerTest::lmer(Reaction ~ period + (period | Subject), d, REML = TRUE, control = tight)
#   summary(m)$coefficients  (Satterthwaite dof)
# Run: cd tests/reference && Rscript dose_two_times.R
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-12))
d <- sleepstudy
d$period <- as.numeric(d$Days >= 5)
m <- lmerTest::lmer(Reaction ~ period + (period | Subject), d, REML = TRUE, control = tight)
co <- summary(m)$coefficients
vc <- as.data.frame(VarCorr(m))
out <- rbind(
  data.frame(quantity = "loglik", term = "", value = as.numeric(logLik(m))),
  data.frame(quantity = "estimate", term = rownames(co), value = co[, "Estimate"]),
  data.frame(quantity = "se", term = rownames(co), value = co[, "Std. Error"]),
  data.frame(quantity = "dof", term = rownames(co), value = co[, "df"]),
  data.frame(quantity = "sd", term = c("sd_intercept", "sd_slope", "corr_intercept_slope", "sd_residual"),
             value = c(vc$sdcor[1], vc$sdcor[2], vc$sdcor[3], vc$sdcor[4]))
)
write.csv(out, "dose_two_times.csv", row.names = FALSE)
