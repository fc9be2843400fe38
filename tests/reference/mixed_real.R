# Real-data parity suite for the mixed-model engine (issue 10, item 2):
# lme4 + lmerTest + emmeans on R's own longitudinal data sets.
#
# Run from tests/reference/:   Rscript mixed_real.R
# Tested with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4-1.
# tests/test_mixed_real.py reads what it writes.
#
# Data sets (all REAL, exported unchanged apart from column selection):
#   mixed_real_sleepstudy.csv  lme4::sleepstudy: reaction time over 10 days of
#                              sleep deprivation, 18 people, balanced.
#   mixed_real_orthodont.csv   nlme::Orthodont: pituitary-pterygomaxillary
#                              distance at ages 8-14, 16 boys and 11 girls;
#                              fitted with both sexes (with and without Sex as a
#                              between factor) and each sex alone (column Sex).
#   mixed_real_chickweight.csv datasets::ChickWeight: chick weights over 21
#                              days on 4 diets; UNBALANCED with DROP-OUT (chicks
#                              died: 50 chicks, 578 of 600 visits).
#   mixed_real_bodyweight.csv  nlme::BodyWeight: rat weights over 64 days on
#                              THREE diets (8, 4 and 4 rats).
#   mixed_real_loblolly.csv    datasets::Loblolly: heights of 14 loblolly pines
#                              at ages 3-25 years. A variance TRULY NEAR ZERO:
#                              the intercept is the height at age 0, when every
#                              tree is a seed, so the trees' heights at age 0
#                              hardly differ and all spread comes from growth
#                              rate. lme4's fit is singular: the random
#                              intercept and slope are perfectly correlated (the
#                              conditional variance of the slope given the
#                              intercept, Lambda[2,2], is 0).
#   mixed_real_dialyzer.csv    nlme::Dialyzer: ultrafiltration rate of 20
#                              dialysers at 7 transmembrane pressures (a dose),
#                              blood flow QB 200 or 300 (between). A variance
#                              that is EXACTLY zero: at zero pressure nothing is
#                              filtered, whatever the dialyser, so the random
#                              intercept (the rate at pressure 0) has SD 0 in
#                              lme4's fit (Lambda[1,1] = 0).
#
# Models, for every data set: shape linear, quadratic and natural spline,
# by REML and ML, without and (where the data have one) with the between
# factor crossed with the whole time trajectory, always a random intercept and
# slope on time per participant. Each fit is
#   m <- lmerTest::lmer(formula, data, REML = reml, control = tight)
#   tight <- lmerControl(optimizer = "bobyqa",
#                        optCtrl = list(maxfun = 1e5, rhoend = 1e-12))
# with `formula` one of (time t, outcome y, participant id, between g)
#   y ~ t + (t | id)                     y ~ t * g + (t | id)
#   y ~ t + I(t^2) + (t | id)            y ~ (t + I(t^2)) * g + (t | id)
#   y ~ ns(t, knots = c(k1, k2), Boundary.knots = c(min(t), max(t))) + (t | id)
#   y ~ ns(t, knots = ..., Boundary.knots = ...) * g + (t | id)
# where k1, k2 = quantile(unique(t), c(1/3, 2/3)) (numpy's default quantile on
# the distinct times, which is also dose_response's default). The exact
# formula and call of every case is in column r_call of mixed_real_cases.csv
# and printed by this script. Then
#   summary(m)$coefficients                      # estimate, SE, Satterthwaite df
#   emmeans(m, ~ g | t, at = list(t = times), lmer.df = "satterthwaite")
#                                                # (~ t without a between factor)
#   VarCorr(m), getME(m, "theta"), logLik(m)
#   m@optinfo$conv$opt (bobyqa's code), m@optinfo$conv$lme4$messages,
#   max(abs(m@optinfo$derivs$gradient))
# r_warnings records the warnings of the fit (lme4's and lmerTest's, e.g.
# lmerTest's "Model failed to converge with 1 negative eigenvalue" of the
# Hessian in (theta, sigma) at a singular fit).
# lme4_converged is TRUE when bobyqa returned 0 and neither lme4's checkConv
# nor lmerTest reports a failure to converge (a singular-fit or scaling message
# does not count).
# Terms are renamed to backwalk_study's convention (Intercept, g[T.level],
# I(t ** 2), ns(t)[k], t:g[T.level]).
#
# Outputs: mixed_real_<data>.csv (the data), mixed_real_cases.csv (one row per
# fit), mixed_real_fixed.csv and mixed_real_emmeans.csv.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(emmeans)
  library(splines)
})
emm_options(lmerTest.limit = 1e6)  # never silently fall back to asymptotic df
options(digits = 15)

tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-12))

plain <- function(d) {
  for (col in names(d)) {
    if (is.factor(d[[col]])) d[[col]] <- factor(as.character(d[[col]]), levels = levels(d[[col]]))
  }
  d
}

sets <- list(
  sleepstudy = list(data = plain(lme4::sleepstudy[, c("Reaction", "Days", "Subject")]),
                    y = "Reaction", t = "Days", id = "Subject", g = NA),
  orthodont = list(data = plain(as.data.frame(nlme::Orthodont)[, c("distance", "age", "Subject", "Sex")]),
                   y = "distance", t = "age", id = "Subject", g = "Sex"),
  chickweight = list(data = plain(as.data.frame(datasets::ChickWeight)[, c("weight", "Time", "Chick", "Diet")]),
                     y = "weight", t = "Time", id = "Chick", g = "Diet"),
  bodyweight = list(data = plain(as.data.frame(nlme::BodyWeight)[, c("weight", "Time", "Rat", "Diet")]),
                    y = "weight", t = "Time", id = "Rat", g = "Diet"),
  loblolly = list(data = plain(as.data.frame(datasets::Loblolly)[, c("height", "age", "Seed")]),
                  y = "height", t = "age", id = "Seed", g = NA),
  dialyzer = list(data = plain(as.data.frame(nlme::Dialyzer)[, c("rate", "pressure", "Subject", "QB")]),
                  y = "rate", t = "pressure", id = "Subject", g = "QB")
)

for (name in names(sets)) {
  write.csv(sets[[name]]$data, sprintf("mixed_real_%s.csv", name), row.names = FALSE)
}

# Orthodont is also fitted for each sex alone (no between factor then)
subsets <- list(
  list(set = "sleepstudy", subset = NA),
  list(set = "orthodont", subset = NA),
  list(set = "orthodont", subset = "Female"),
  list(set = "orthodont", subset = "Male"),
  list(set = "chickweight", subset = NA),
  list(set = "bodyweight", subset = NA),
  list(set = "loblolly", subset = NA),
  list(set = "dialyzer", subset = NA)
)

num <- function(x) format(x, digits = 17)

shape_term <- function(shape, t, tvals) {
  if (shape == "linear") return(list(term = t, knots = NA))
  if (shape == "quadratic") return(list(term = sprintf("%s + I(%s^2)", t, t), knots = NA))
  k <- quantile(unique(tvals), c(1 / 3, 2 / 3), names = FALSE)
  list(term = sprintf("ns(%s, knots = c(%s), Boundary.knots = c(%s))", t,
                      paste(num(k), collapse = ", "), paste(num(range(tvals)), collapse = ", ")),
       knots = paste(num(k), collapse = ";"))
}

rename_terms <- function(terms, t, g, levels) {
  out <- terms
  out[out == "(Intercept)"] <- "Intercept"
  out <- gsub(sprintf("I(%s^2)", t), sprintf("I(%s ** 2)", t), out, fixed = TRUE)
  out <- sub("ns\\(.*\\)\\)([0-9]+)", sprintf("ns(%s)[\\1]", t), out)
  if (!is.na(g)) {
    for (lvl in levels[-1]) {
      out <- gsub(sprintf("(^|:)%s%s($|:)", g, lvl), sprintf("\\1%s[T.%s]\\2", g, lvl), out)
    }
    # R puts the factor first in t:g products only when it comes first; ours is t:g
    out <- sub(sprintf("^(%s\\[T\\.[^]]*\\]):(.*)$", g), "\\2:\\1", out)
  }
  out
}

cases <- list()
fixed <- list()
emms <- list()
for (s in subsets) {
  spec <- sets[[s$set]]
  d <- spec$data
  label <- s$set
  if (!is.na(s$subset)) {
    d <- d[d$Sex == s$subset, ]
    label <- paste0(s$set, "_", tolower(s$subset))
  }
  tvals <- d[[spec$t]]
  ut <- sort(unique(tvals))
  at_times <- unique(c(min(ut), ut[ceiling(length(ut) / 2)], max(ut)))
  betweens <- if (is.na(spec$g) || !is.na(s$subset)) NA else c(NA, spec$g)
  for (g in betweens) {
    for (shape in c("linear", "quadratic", "spline")) {
      st <- shape_term(shape, spec$t, tvals)
      rhs <- if (is.na(g)) st$term else if (shape == "linear") sprintf("%s * %s", st$term, g)
             else sprintf("(%s) * %s", st$term, g)
      form <- sprintf("%s ~ %s + (%s | %s)", spec$y, rhs, spec$t, spec$id)
      for (reml in c(TRUE, FALSE)) {
        id <- sprintf("%s_%s%s_%s", label, shape, if (is.na(g)) "" else paste0("_by_", tolower(g)),
                      if (reml) "reml" else "ml")
        data_expr <- if (is.na(s$subset)) s$set else sprintf("subset(%s, Sex == \"%s\")", s$set, s$subset)
        call <- sprintf("lmerTest::lmer(%s, %s, REML = %s, control = tight)", form, data_expr, reml)
        cat(id, ": ", call, "\n", sep = "")
        caught <- character(0)  # recorded in the table, and still printed
        m <- withCallingHandlers(
          lmerTest::lmer(as.formula(form), d, REML = reml, control = tight),
          warning = function(w) caught <<- c(caught, conditionMessage(w)))
        msgs <- m@optinfo$conv$lme4$messages
        failed <- any(grepl("failed to converge", c(msgs, caught)))
        vc <- as.data.frame(VarCorr(m))
        theta <- getME(m, "theta")
        cases[[id]] <- data.frame(
          case = id, data = sprintf("mixed_real_%s.csv", s$set),
          subset = if (is.na(s$subset)) "" else s$subset,
          dv = spec$y, time = spec$t, subject = spec$id,
          between = if (is.na(g)) "" else g,
          reference = if (is.na(g)) "" else levels(d[[g]])[1],
          shape = shape, knots = if (is.na(st$knots)) "" else st$knots, reml = reml,
          at_times = paste(num(at_times), collapse = ";"),
          loglik = as.numeric(logLik(m)),
          theta_1 = theta[1], theta_2 = theta[2], theta_3 = theta[3],
          sd_intercept = vc$sdcor[1], sd_slope = vc$sdcor[2],
          corr_intercept_slope = vc$sdcor[3], sd_residual = sigma(m),
          singular = isSingular(m), bobyqa_code = m@optinfo$conv$opt,
          lme4_messages = paste(msgs, collapse = " | "),
          max_abs_grad = max(abs(m@optinfo$derivs$gradient)),
          r_warnings = paste(caught, collapse = " | "),
          lme4_converged = m@optinfo$conv$opt == 0 && !failed,
          r_call = call)
        co <- summary(m)$coefficients
        fixed[[id]] <- data.frame(case = id,
                                  term = rename_terms(rownames(co), spec$t, g,
                                                      if (is.na(g)) NULL else levels(d[[g]])),
                                  estimate = co[, "Estimate"], se = co[, "Std. Error"],
                                  dof = co[, "df"])
        at <- setNames(list(at_times), spec$t)
        specs <- if (is.na(g)) as.formula(paste("~", spec$t))
                 else as.formula(sprintf("~ %s | %s", g, spec$t))
        e <- as.data.frame(summary(emmeans(m, specs, at = at, lmer.df = "satterthwaite")))
        emms[[id]] <- data.frame(case = id, level = if (is.na(g)) "" else as.character(e[[g]]),
                                 time = e[[spec$t]], estimate = e$emmean, se = e$SE, dof = e$df)
      }
    }
  }
}

write.csv(do.call(rbind, cases), "mixed_real_cases.csv", row.names = FALSE)
write.csv(do.call(rbind, fixed), "mixed_real_fixed.csv", row.names = FALSE)
write.csv(do.call(rbind, emms), "mixed_real_emmeans.csv", row.names = FALSE)
