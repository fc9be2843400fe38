# Writes the example tables for `backwalk meta` from two real data sets that ship with R's metafor.
# Run from this folder: Rscript make_examples.R
suppressMessages(library(metafor))

# dat.normand1999: length of hospital stay (days), specialist (arm 1) vs routine (arm 2) stroke care
d <- dat.normand1999
write.csv(data.frame(study = d$source, measure = "MD", mean_1 = d$m1i, sd_1 = d$sd1i, n_1 = d$n1i,
                     mean_2 = d$m2i, sd_2 = d$sd2i, n_2 = d$n2i, outcome = "length of stay (days)"),
          "normand1999_stroke_care.csv", row.names = FALSE)

# dat.bcg: tuberculosis cases in BCG-vaccinated (arm 1) and unvaccinated (arm 2) groups
b <- dat.bcg
write.csv(data.frame(study = paste(b$author, b$year), measure = "RR", events_1 = b$tpos, n_1 = b$tpos + b$tneg,
                     events_2 = b$cpos, n_2 = b$cpos + b$cneg, allocation = b$alloc, ablat = b$ablat,
                     year = b$year),
          "bcg_vaccine.csv", row.names = FALSE)
