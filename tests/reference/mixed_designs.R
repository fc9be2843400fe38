# Reference values for the designs researchers bring (issue 10, items 4 and 5):
# several between factors, a categorical covariate with a chosen reference,
# participants nested in sites, and Tukey/Holm-adjusted pairwise contrasts.
# All on R's own REAL data sets. Run from tests/reference/:  Rscript mixed_designs.R
# Tested with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4.
#
# tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-12))
# Cases (column r_call of mixed_designs_cases.csv):
#  co2_two_factors: datasets::CO2 (12 plants, CO2 uptake at 7 concentrations;
#    two between factors Type x Treatment):
#      lmer(uptake ~ conc * Type * Treatment + (conc | Plant), CO2, control = tight)
#      emmeans(m, ~ Type * Treatment, at = list(conc = 500), lmer.df = "satterthwaite")
#      pairs(emm, adjust = "tukey"); pairs(emm, by = "Type", adjust = "none")
#  co2_covariate_reference: Treatment as a covariate with reference "chilled":
#      lmer(uptake ~ conc * Type + relevel(Treatment, "chilled") + (conc | Plant), CO2)
#  bodyweight_tukey: nlme::BodyWeight (16 rats, 3 diets):
#      lmer(weight ~ Time * Diet + (Time | Rat), BodyWeight, control = tight)
#      pairs(emmeans(m, ~ Diet, at = list(Time = 64)), adjust = "tukey" | "holm")
#      pairs(emtrends(m, ~ Diet, var = "Time"), adjust = "tukey")
#  pixel_site: nlme::Pixel (10 dogs, 2 sides each, pixel intensity over days);
#    the side is the "participant", nested in the dog as "site":
#      lmer(pixel ~ day + (day | DogSide) + (1 | Dog), Pixel, control = tight)
#      summary(m)$coefficients (Satterthwaite), VarCorr(m), logLik(m)
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(emmeans); library(nlme)})
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-12))
emm_options(lmer.df = "satterthwaite", lmerTest.limit = 1e6)

co2 <- data.frame(uptake = CO2$uptake, conc = CO2$conc, Plant = as.character(CO2$Plant),
                  Type = as.character(CO2$Type), Treatment = as.character(CO2$Treatment))
co2$Type <- factor(co2$Type, levels = c("Quebec", "Mississippi"))
co2$Treatment <- factor(co2$Treatment, levels = c("nonchilled", "chilled"))
write.csv(co2, "mixed_designs_co2.csv", row.names = FALSE)
bw <- data.frame(weight = BodyWeight$weight, Time = BodyWeight$Time,
                 Rat = as.character(BodyWeight$Rat), Diet = as.character(BodyWeight$Diet))
write.csv(bw, "mixed_designs_bodyweight.csv", row.names = FALSE)
px <- data.frame(pixel = Pixel$pixel, day = Pixel$day, Dog = as.character(Pixel$Dog),
                 Side = as.character(Pixel$Side))
px$DogSide <- paste(px$Dog, px$Side, sep = "-")
write.csv(px, "mixed_designs_pixel.csv", row.names = FALSE)

fixed <- list(); contr <- list(); cases <- list()
add_fixed <- function(case, m) {
  co <- summary(m)$coefficients
  fixed[[case]] <<- data.frame(case = case, term = rownames(co), estimate = co[, 1], se = co[, 2],
                               dof = co[, "df"])
  cases[[case]] <<- data.frame(case = case, loglik = as.numeric(logLik(m)),
                               singular = isSingular(m), messages = paste(m@optinfo$conv$lme4$messages, collapse = "; "))
}
add_contr <- function(case, family, x) {
  s <- as.data.frame(summary(x, infer = TRUE))
  pcol <- "p.value"
  by <- if ("Type" %in% names(s) && !grepl("-.*Type", s$contrast[1])) as.character(s$Type) else ""
  contr[[paste(case, family)]] <<- data.frame(case = case, family = family, contrast = as.character(s$contrast),
    by = by, estimate = s$estimate, se = s$SE, dof = s$df, ci_low = s$lower.CL, ci_high = s$upper.CL,
    p_adjusted = s[[pcol]])
}

m <- lmer(uptake ~ conc * Type * Treatment + (conc | Plant), co2, control = tight)
add_fixed("co2_two_factors", m)
emm <- emmeans(m, ~ Type * Treatment, at = list(conc = 500))
add_contr("co2_two_factors", "mean tukey", pairs(emm, adjust = "tukey"))
add_contr("co2_two_factors", "mean by Type none", pairs(emmeans(m, ~ Treatment | Type, at = list(conc = 500)), adjust = "none"))
emms <- as.data.frame(summary(emm))
emm_out <- data.frame(case = "co2_two_factors", Type = as.character(emms$Type), Treatment = as.character(emms$Treatment),
                      estimate = emms$emmean, se = emms$SE, dof = emms$df)

co2$Treat2 <- relevel(co2$Treatment, "chilled")
m <- lmer(uptake ~ conc * Type + Treat2 + (conc | Plant), co2, control = tight)
add_fixed("co2_covariate_reference", m)

m <- lmer(weight ~ Time * Diet + (Time | Rat), bw, control = tight)
add_fixed("bodyweight_tukey", m)
emm <- emmeans(m, ~ Diet, at = list(Time = 64))
add_contr("bodyweight_tukey", "mean tukey", pairs(emm, adjust = "tukey"))
add_contr("bodyweight_tukey", "mean holm", pairs(emm, adjust = "holm"))
add_contr("bodyweight_tukey", "slope tukey", pairs(emtrends(m, ~ Diet, var = "Time"), adjust = "tukey"))

m <- lmer(pixel ~ day + (day | DogSide) + (1 | Dog), px, control = tight)
add_fixed("pixel_site", m)
vc <- as.data.frame(VarCorr(m))
pixel_vc <- data.frame(case = "pixel_site", grp = vc$grp, var1 = vc$var1, var2 = vc$var2, sdcor = vc$sdcor)

write.csv(do.call(rbind, cases), "mixed_designs_cases.csv", row.names = FALSE)
write.csv(do.call(rbind, fixed), "mixed_designs_fixed.csv", row.names = FALSE)
write.csv(do.call(rbind, contr), "mixed_designs_contrasts.csv", row.names = FALSE)
write.csv(emm_out, "mixed_designs_emmeans.csv", row.names = FALSE)
write.csv(pixel_vc, "mixed_designs_pixel_vc.csv", row.names = FALSE)
