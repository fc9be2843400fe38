# Reference values for backwalk_study.stats._kenward_roger (issue 10, item 5):
# the Kenward-Roger adjusted covariance of the fixed effects and KR
# denominator degrees of freedom, from pbkrtest and lmerTest.
#
# Run from tests/reference/:   Rscript kenward_roger.R
# Tested with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2.
#
# Data: R's own REAL data sets, the same tables that mixed_real.R exports
# (tests/test_kenward_roger.py reads mixed_real_<data>.csv): lme4::sleepstudy,
# nlme::Orthodont, datasets::ChickWeight (drop-out, 4 diets), nlme::BodyWeight
# (3 diets) and nlme::Dialyzer (pressures differ between dialysers). In the
# balanced designs the adjusted covariance equals the plug-in one; ChickWeight
# and Dialyzer, being unbalanced, check the adjustment itself. For each case (kr_cases.csv, column r_call):
#   m <- lmerTest::lmer(formula, data, REML = TRUE, control = tight)
#   tight <- lmerControl(optimizer = "bobyqa",
#                        optCtrl = list(maxfun = 1e5, rhoend = 1e-12))
#   pbkrtest::vcovAdj(m)                       # -> kr_vcov.csv (vcov_adj), with vcov(m)
#   summary(m, ddf = "Kenward-Roger")$coefficients
#                                              # -> kr_contrasts.csv, one row per coefficient
#   contest(m, L, ddf = "Kenward-Roger", joint = FALSE)
#                                              # -> kr_contrasts.csv, further rows of L
#   contest(m, L, ddf = "Kenward-Roger", joint = TRUE)
#                                              # -> kr_ftests.csv: joint F-tests of all
#                                              #    group terms, and of all time x group
#                                              #    terms (pbkrtest::KRmodcomp inside)
# The extra contrasts are the reference group's mean at the middle time and
# the average of all coefficients (an arbitrary mixture of every column).
# theta and sigma of each fit are in kr_cases.csv, so the test can evaluate
# Kenward-Roger at lme4's optimum.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
})
options(digits = 15)

tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-12))
plain <- function(d) {
  for (col in names(d)) {
    if (is.factor(d[[col]])) d[[col]] <- factor(as.character(d[[col]]), levels = levels(d[[col]]))
  }
  d
}
sets <- list(
  sleepstudy = plain(lme4::sleepstudy),
  orthodont = plain(as.data.frame(nlme::Orthodont)),
  chickweight = plain(as.data.frame(datasets::ChickWeight)),
  bodyweight = plain(as.data.frame(nlme::BodyWeight)),
  dialyzer = plain(as.data.frame(nlme::Dialyzer))
)

cases <- list(
  list(id = "sleepstudy_linear", set = "sleepstudy", time = "Days", between = "", shape = "linear",
       random = "slope", formula = "Reaction ~ Days + (Days | Subject)"),
  list(id = "sleepstudy_intercept", set = "sleepstudy", time = "Days", between = "", shape = "linear",
       random = "intercept", formula = "Reaction ~ Days + (1 | Subject)"),
  list(id = "orthodont_by_sex", set = "orthodont", time = "age", between = "Sex", shape = "linear",
       random = "slope", formula = "distance ~ age * Sex + (age | Subject)"),
  list(id = "chickweight_by_diet", set = "chickweight", time = "Time", between = "Diet",
       shape = "linear", random = "slope", formula = "weight ~ Time * Diet + (Time | Chick)"),
  list(id = "bodyweight_quadratic_by_diet", set = "bodyweight", time = "Time", between = "Diet",
       shape = "quadratic", random = "slope",
       formula = "weight ~ (Time + I(Time^2)) * Diet + (Time | Rat)"),
  list(id = "chickweight_intercept_by_diet", set = "chickweight", time = "Time", between = "Diet",
       shape = "linear", random = "intercept", formula = "weight ~ Time * Diet + (1 | Chick)"),
  list(id = "dialyzer_quadratic_by_qb", set = "dialyzer", time = "pressure", between = "QB",
       shape = "quadratic", random = "slope",
       formula = "rate ~ (pressure + I(pressure^2)) * QB + (pressure | Subject)")
)

out_cases <- list()
out_vcov <- list()
out_con <- list()
out_f <- list()
for (cs in cases) {
  d <- sets[[cs$set]]
  call <- sprintf("lmerTest::lmer(%s, %s, REML = TRUE, control = tight)", cs$formula, cs$set)
  cat(cs$id, ": ", call, "\n", sep = "")
  m <- lmerTest::lmer(as.formula(cs$formula), d, REML = TRUE, control = tight)
  theta <- getME(m, "theta")
  out_cases[[cs$id]] <- data.frame(
    case = cs$id, data = sprintf("mixed_real_%s.csv", cs$set), time = cs$time,
    between = cs$between, shape = cs$shape, random = cs$random,
    theta_1 = theta[1], theta_2 = if (length(theta) > 1) theta[2] else NA,
    theta_3 = if (length(theta) > 1) theta[3] else NA, sigma = sigma(m),
    loglik = as.numeric(logLik(m)), singular = isSingular(m), r_call = call)
  V0 <- as.matrix(vcov(m))
  VA <- as.matrix(pbkrtest::vcovAdj(m))
  p <- ncol(V0)
  out_vcov[[cs$id]] <- data.frame(case = cs$id, i = rep(seq_len(p), p), j = rep(seq_len(p), each = p),
                                  vcov = as.vector(V0), vcov_adj = as.vector(VA))
  co <- summary(m, ddf = "Kenward-Roger")$coefficients
  X <- getME(m, "X")
  tmid <- sort(unique(d[[cs$time]]))[ceiling(length(unique(d[[cs$time]])) / 2)]
  mean_mid <- as.numeric(colnames(X) == "(Intercept)") + tmid * (colnames(X) == cs$time) +
    tmid^2 * (colnames(X) == sprintf("I(%s^2)", cs$time))
  extra <- rbind(mean_mid, rep(1 / p, p))
  ce <- contest(m, extra, ddf = "Kenward-Roger", joint = FALSE)
  L <- rbind(diag(p), extra)
  out_con[[cs$id]] <- data.frame(
    case = cs$id,
    contrast = c(rownames(co), sprintf("reference mean at %s = %g", cs$time, tmid), "mean of coefficients"),
    source = c(rep("summary(m, ddf = \"Kenward-Roger\")", p), rep("contest(m, L, ddf = \"Kenward-Roger\")", 2)),
    L = apply(L, 1, function(r) paste(sprintf("%.17g", r), collapse = ";")),
    estimate = c(co[, "Estimate"], ce$Estimate), se = c(co[, "Std. Error"], ce$`Std. Error`),
    dof = c(co[, "df"], ce$df))
  if (cs$between != "") {
    names_x <- colnames(X)
    groups <- grepl(sprintf("^%s[^:]*$", cs$between), names_x)
    slopes <- grepl(sprintf("^%s:%s", cs$time, cs$between), names_x)
    for (test in c("group", "time_by_group")) {
      cols <- which(if (test == "group") groups else slopes)
      Lf <- diag(p)[cols, , drop = FALSE]
      ft <- contest(m, Lf, ddf = "Kenward-Roger", joint = TRUE)
      out_f[[paste(cs$id, test)]] <- data.frame(
        case = cs$id, test = test,
        L = paste(apply(Lf, 1, function(r) paste(r, collapse = ";")), collapse = "|"),
        F = ft$`F value`, ndf = ft$NumDF, ddf = ft$DenDF, p_val = ft$`Pr(>F)`)
    }
  }
}
write.csv(do.call(rbind, out_cases), "kr_cases.csv", row.names = FALSE)
write.csv(do.call(rbind, out_vcov), "kr_vcov.csv", row.names = FALSE)
write.csv(do.call(rbind, out_con), "kr_contrasts.csv", row.names = FALSE)
write.csv(do.call(rbind, out_f), "kr_ftests.csv", row.names = FALSE)
